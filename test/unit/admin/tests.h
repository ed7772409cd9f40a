/* SPDX-License-Identifier: MIT */
/* admin/ unit tests: one group per source file, and shared client helpers. */
#ifndef RW_TEST_UNIT_ADMIN_TESTS_H
#define RW_TEST_UNIT_ADMIN_TESTS_H

#include <stddef.h>

/* Each returns the number of failed tests. */
int rw_test_server(const char *backend);
int rw_test_http(const char *backend);
int rw_test_ctl(const char *backend);
int rw_test_metrics(void);
int rw_test_accesslog(void);
int rw_test_alog_fmt(void);

/* Blocking test clients (10 s timeouts). fd or -1. */
int rw_test_unix_connect(const char *path);
int rw_test_tcp_connect(unsigned short port);
/* Send all of s. 0 or -1. */
int rw_test_send(int fd, const char *s, size_t n);
/* Read one line (without '\n') into buf (cap bytes). Length or -1. */
long rw_test_read_line(int fd, char *buf, size_t cap);
/* Read until EOF into a malloc'd NUL-terminated buffer. */
char *rw_test_read_all(int fd, size_t *len);
/* A fresh temporary directory (malloc'd path). */
char *rw_test_tmpdir(void);

struct rw_admin;
struct rw_admin_cfg;
/* The backend the server groups run on (set by main before each group). */
extern const char *rw_test_backend;
/* Start an admin server on rw_test_backend with the test commands registered:
 * "echo" (data = the request), "fail" (error "it failed"), "servers" (a table),
 * "stats" (sections of tables), "slow" (sleeps 20 ms). NULL on failure. */
struct rw_admin *rw_test_admin_start(const struct rw_admin_cfg *cfg, int *err);

#endif
