// The process_* series of /metrics, named and computed as Prometheus' client
// libraries do on Linux: CPU time, resident and virtual memory and start time
// from /proc/self/stat, open descriptors from /proc/self/fd, the descriptor
// limit from getrlimit, and the boot time from /proc/stat.
#define _DEFAULT_SOURCE // dirfd, sysconf
#include "serve/metrics_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

// Seconds since the epoch when the machine booted (btime of /proc/stat); < 0 unknown.
static double boot_time(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    double t = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "btime %llu", &v) == 1) {
            t = (double)v;
            break;
        }
    }
    fclose(f);
    return t;
}

// Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize) and 24 (rss) of
// /proc/self/stat, counted after the command name, which may hold spaces and
// parentheses (so the scan starts after its last ')').
static void read_stat(kv__proc_stats *out) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    // after ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(14) stime cutime cstime priority nice num_threads itrealvalue
    // starttime(22) vsize rss
    if (sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return;
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tck <= 0 || page <= 0)
        return;
    out->cpu_s = (double)(utime + stime) / (double)tck;
    out->vsize_bytes = (double)vsize;
    out->rss_bytes = (double)rss * (double)page;
    double bt = boot_time();
    if (bt >= 0)
        out->start_time_s = bt + (double)start / (double)tck;
}

static double open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int own = dirfd(d);
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && atoi(e->d_name) != own)
            n++;
    closedir(d);
    return n;
}

void kv__proc_stats_read(kv__proc_stats *out) {
    *out = (kv__proc_stats){-1, -1, -1, -1, -1, -1};
    read_stat(out);
    out->open_fds = open_fds();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
}
