import Foundation
import Testing

@testable import RecoveryDomain

@Suite("Membership filter")
struct MembershipFilterTests {
    @Test func whatWasInsertedIsAlwaysFoundAndStrangersRarelyAre() {
        var filter = MembershipFilter(capacity: 100_000)
        let inserted = (0..<100_000).map { "case-\($0)" }
        for id in inserted { filter.insert(id) }
        #expect(inserted.allSatisfy { filter.mightContain($0) })
        let strangers = (0..<100_000).map { "other-\($0)" }
        let falsePositives = strangers.filter { filter.mightContain($0) }.count
        // About 1% at capacity (10 bits and 7 probes per identifier); 2% leaves room.
        #expect(falsePositives < 2_000, "\(falsePositives) false positives in 100,000")
        #expect(falsePositives > 0)  // a Bloom filter, not a set: this is what a look-up covers
    }

    @Test func eventIDsAreFoundByTheirBitsAndStrangersRarelyAre() {
        var filter = MembershipFilter(capacity: 100_000)
        func id(_ n: Int, _ salt: Int) -> EventID { EventID(String(format: "%08x-0000-4000-8000-%012x", salt, n))! }
        let inserted = (0..<100_000).map { id($0, 1) }
        for id in inserted { filter.insert(id) }
        #expect(inserted.allSatisfy { filter.mightContain($0) })
        let falsePositives = (0..<100_000).filter { filter.mightContain(id($0, 2)) }.count
        #expect(falsePositives < 2_000, "\(falsePositives) false positives in 100,000")
    }

    @Test func aUnionHoldsBoth() {
        var a = MembershipFilter(capacity: 1_000)
        var b = MembershipFilter(capacity: 1_000)
        a.insert("left")
        b.insert("right")
        #expect(!a.mightContain("right"))
        a.formUnion(b)
        #expect(a.mightContain("left") && a.mightContain("right"))
    }
}
