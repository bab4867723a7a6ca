import Foundation
import LedgerStore
import Testing

@Suite("Secret files", .tags(.fast))
struct SecretFileTests {
    @Test func isBornOwnerOnlyAndNeverOverwritesOrFollowsALink() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appending(path: "key")
        try SecretFile.create(url, contents: "secret\n")
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int == 0o600)
        #expect(try String(contentsOf: url, encoding: .utf8) == "secret\n")

        let again = #expect(throws: SecretFile.Failure.self) { try SecretFile.create(url, contents: "other\n") }
        #expect(again?.description.contains("File exists") == true, "\(String(describing: again))")
        #expect(try String(contentsOf: url, encoding: .utf8) == "secret\n")

        // A link planted where the file will be is not written through.
        let target = folder.appending(path: "target")
        let planted = folder.appending(path: "planted")
        try FileManager.default.createSymbolicLink(at: planted, withDestinationURL: target)
        #expect(throws: SecretFile.Failure.self) { try SecretFile.create(planted, contents: "secret\n") }
        #expect(!FileManager.default.fileExists(atPath: target.path))
    }
}
