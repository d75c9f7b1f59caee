/*
 * PMDK libpmemobj measured the way heap.bench.ts measures ferrite: an 8-byte snapshot-and-set
 * transaction, pmemobj_alloc + pmemobj_free of 64 bytes, and pmemobj_open of a 1 GiB pool
 * holding a million 64-byte objects. Run with PMEM_IS_PMEM_FORCE=1 on tmpfs.
 * Usage: bench <dir> [quick|full]; prints `name: median X µs (n samples)` lines.
 */
#include <libpmemobj.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *xs, int n) {
  qsort(xs, n, sizeof(double), cmp);
  return xs[n / 2];
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int quick = argc > 2 && strcmp(argv[2], "quick") == 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/pmdk-tx.pool", argv[1]);
  unlink(path);
  PMEMobjpool *pop = pmemobj_create(path, "bench", 64 << 20, 0600);
  if (pop == NULL) { perror("pmemobj_create"); return 1; }
  PMEMoid root = pmemobj_root(pop, 64);
  uint64_t *p = pmemobj_direct(root);
  int samples = quick ? 5 : 21, per = quick ? 2000 : 20000;
  double xs[64];
  uint64_t v = 0;
  for (int s = -1; s < samples; s++) {
    double t0 = now_us();
    for (int i = 0; i < per; i++) {
      TX_BEGIN(pop) {
        pmemobj_tx_add_range(root, 0, 8);
        *p = ++v;
      } TX_END
    }
    if (s >= 0) xs[s] = (now_us() - t0) / per;
  }
  printf("pmdk tx set 8 bytes (PMEM_IS_PMEM_FORCE=1): median %.3f µs (%d samples)\n", median(xs, samples), samples);
  for (int s = -1; s < samples; s++) {
    double t0 = now_us();
    for (int i = 0; i < per; i++) {
      PMEMoid oid;
      if (pmemobj_alloc(pop, &oid, 64, 0, NULL, NULL) != 0) { perror("pmemobj_alloc"); return 1; }
      pmemobj_free(&oid);
    }
    if (s >= 0) xs[s] = (now_us() - t0) / per;
  }
  printf("pmdk alloc+free 64 bytes, pmemobj_alloc+pmemobj_free (PMEM_IS_PMEM_FORCE=1): median %.3f µs (%d samples)\n",
         median(xs, samples), samples);
  pmemobj_close(pop);
  unlink(path);

  size_t size = quick ? (64u << 20) : (1u << 30);
  long count = quick ? 50000 : 1000000;
  snprintf(path, sizeof path, "%s/pmdk-open.pool", argv[1]);
  unlink(path);
  pop = pmemobj_create(path, "bench", size, 0600);
  if (pop == NULL) { perror("pmemobj_create"); return 1; }
  for (long i = 0; i < count; i++) {
    PMEMoid oid;
    if (pmemobj_alloc(pop, &oid, 64, 0, NULL, NULL) != 0) { perror("pmemobj_alloc"); return 1; }
  }
  pmemobj_close(pop);
  int os = quick ? 3 : 7;
  for (int s = 0; s < os; s++) {
    double t0 = now_us();
    pop = pmemobj_open(path, "bench");
    if (pop == NULL) { perror("pmemobj_open"); return 1; }
    /* PMDK rebuilds its free-space index lazily: an allocation forces the first rebuild. */
    PMEMoid oid;
    pmemobj_alloc(pop, &oid, 64, 0, NULL, NULL);
    xs[s] = now_us() - t0;
    pmemobj_free(&oid);
    pmemobj_close(pop);
  }
  printf("pmdk open %zu MiB pool with %ld allocations, + first alloc (PMEM_IS_PMEM_FORCE=1): median %.1f µs (%d samples)\n",
         size >> 20, count, median(xs, os), os);
  unlink(path);
  return 0;
}
