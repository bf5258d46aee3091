// core's private temporary-file tracking, shared by tmp_track.c and file_out.c
// (not installed).
#ifndef KV_TMP_INT_H
#define KV_TMP_INT_H

#include <signal.h>

// Holds SIGINT, SIGTERM and SIGHUP in the calling thread and marks a temporary
// as being created, so a cleanup handler running on another thread waits for it
// to be tracked; *old receives the mask to give kv__tmp_release.
void kv__tmp_hold(sigset_t *old);
// Ends what kv__tmp_hold began: restores the mask (a held signal is handled now).
void kv__tmp_release(const sigset_t *old);

#endif
