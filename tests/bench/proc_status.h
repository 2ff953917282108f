/* proc_status.h - the benchmarks' view of their own memory use. */
#ifndef JEN1_BENCH_PROC_STATUS_H
#define JEN1_BENCH_PROC_STATUS_H

/* kB from a "Key:   123 kB" line of /proc/self/status (RssAnon: private
 * memory, RssFile: mapped files such as the weights, VmHWM: peak RSS), or -1. */
long proc_status_kb(const char *key);

#endif
