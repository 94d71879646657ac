#ifndef STRATA_CROCKSDB_SHIM_H
#define STRATA_CROCKSDB_SHIM_H
#include <rocksdb/c.h>
#endif
