#ifndef RECOVERYD_CLIBPQ_SHIM_H
#define RECOVERYD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
