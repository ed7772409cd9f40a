/* SPDX-License-Identifier: MIT */
/* bench origin: a small, fast HTTP/1.1 keep-alive server on epoll for the benchmark harness. */

/*
 * GET /small -> 12-byte body, /64k -> 65536 bytes, /1m -> 1 MiB, anything else -> 404.
 * Every response carries Content-Length; bodies and heads are built once at start-up.
 * Keep-alive by default (HTTP/1.1), "Connection: close" or HTTP/1.0 without keep-alive
 * closes after the response. Pipelined requests are answered in order: the next request
 * is parsed only when the previous response has been written out completely.
 *
 * usage: origin [-a ADDR] [-p PORT] [-t THREADS]   (default 127.0.0.1:19000, 1 thread)
 * Each thread owns an epoll instance and its own SO_REUSEPORT listener.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ORIGIN_INBUF 4096
#define ORIGIN_EVENTS 256

enum origin_resp { ORIGIN_SMALL = 0, ORIGIN_64K, ORIGIN_1M, ORIGIN_404, ORIGIN_400, ORIGIN_NRESP };

struct origin_msg {
	char *data;   /* owned: head + body, built at start-up */
	size_t len;
};

/* [resp][close] */
static struct origin_msg origin_msgs[ORIGIN_NRESP][2];

struct origin_conn {
	int fd;
	int close_after;         /* close once the pending response is written */
	int want_out;            /* registered for EPOLLOUT instead of EPOLLIN */
	const char *out;         /* borrowed: origin_msgs */
	size_t outlen;
	size_t skip;             /* request body bytes still to discard */
	size_t inlen;
	char in[ORIGIN_INBUF];
};

static struct sockaddr_in origin_addr;

static void origin_build(enum origin_resp r, const char *status, size_t blen)
{
	char *body = malloc(blen ? blen : 1);
	if (!body) {
		perror("malloc");
		exit(1);
	}
	for (size_t i = 0; i < blen; i++)
		body[i] = (char)('a' + i % 26);
	if (blen >= 1)
		body[blen - 1] = '\n';
	for (int c = 0; c < 2; c++) {
		char head[256];
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 %s\r\nServer: bench-origin\r\nContent-Type: text/plain\r\n"
				  "Content-Length: %zu\r\n%s\r\n",
				  status, blen, c ? "Connection: close\r\n" : "");
		struct origin_msg *m = &origin_msgs[r][c];
		m->len = (size_t)hl + blen;
		m->data = malloc(m->len);
		if (!m->data) {
			perror("malloc");
			exit(1);
		}
		memcpy(m->data, head, (size_t)hl);
		memcpy(m->data + hl, body, blen);
	}
	free(body);
}

static void origin_close(int ep, struct origin_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static int origin_set_events(int ep, struct origin_conn *c, int want_out)
{
	if (c->want_out == want_out)
		return 0;
	struct epoll_event ev = { .events = want_out ? EPOLLOUT : EPOLLIN, .data.ptr = c };
	c->want_out = want_out;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Does header line [p, e) have name `name` (case-insensitive) and a value containing `tok`? */
static int origin_hdr_has(const char *p, const char *e, const char *name, const char *tok)
{
	size_t nl = strlen(name);
	if ((size_t)(e - p) <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':')
		return 0;
	size_t tl = strlen(tok);
	for (const char *q = p + nl + 1; q + tl <= e; q++)
		if (strncasecmp(q, tok, tl) == 0)
			return 1;
	return 0;
}

/* Parse one complete head in c->in[0, hlen): choose the response, note body and close. */
static enum origin_resp origin_parse(struct origin_conn *c, size_t hlen)
{
	const char *p = c->in, *end = c->in + hlen;
	const char *eol = memmem(p, hlen, "\r\n", 2);
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1)
		return ORIGIN_400;
	const char *path = sp1 + 1;
	const char *sp2 = memchr(path, ' ', (size_t)(eol - path));
	if (!sp2)
		return ORIGIN_400;
	size_t plen = (size_t)(sp2 - path);
	const char *qm = memchr(path, '?', plen);
	if (qm)
		plen = (size_t)(qm - path);
	int http10 = (size_t)(eol - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
	int ka10 = 0;
	c->close_after = 0;
	for (const char *l = eol + 2; l < end;) {
		const char *le = memmem(l, (size_t)(end - l), "\r\n", 2);
		if (!le || le == l)
			break;
		if (origin_hdr_has(l, le, "connection", "close"))
			c->close_after = 1;
		if (origin_hdr_has(l, le, "connection", "keep-alive"))
			ka10 = 1;
		if ((size_t)(le - l) > 15 && strncasecmp(l, "content-length:", 15) == 0)
			c->skip = strtoull(l + 15, NULL, 10);
		l = le + 2;
	}
	if (http10 && !ka10)
		c->close_after = 1;
	if (plen == 6 && memcmp(path, "/small", 6) == 0)
		return ORIGIN_SMALL;
	if (plen == 4 && memcmp(path, "/64k", 4) == 0)
		return ORIGIN_64K;
	if (plen == 3 && memcmp(path, "/1m", 3) == 0)
		return ORIGIN_1M;
	return ORIGIN_404;
}

/* Write what is pending. 1 = all written, 0 = would block, -1 = error. */
static int origin_flush(struct origin_conn *c)
{
	while (c->outlen) {
		ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		c->out += n;
		c->outlen -= (size_t)n;
	}
	return 1;
}

/* Answer buffered requests until one response blocks. -1 = close the connection. */
static int origin_process(int ep, struct origin_conn *c)
{
	for (;;) {
		int f = origin_flush(c);
		if (f < 0)
			return -1;
		if (f == 0)
			return origin_set_events(ep, c, 1) < 0 ? -1 : 0;
		if (c->close_after)
			return -1;
		if (c->skip && c->inlen) {
			size_t k = c->skip < c->inlen ? c->skip : c->inlen;
			memmove(c->in, c->in + k, c->inlen - k);
			c->inlen -= k;
			c->skip -= k;
		}
		if (c->skip)
			break;
		char *hend = c->inlen >= 4 ? memmem(c->in, c->inlen, "\r\n\r\n", 4) : NULL;
		if (!hend) {
			if (c->inlen == sizeof(c->in)) {
				c->out = origin_msgs[ORIGIN_400][1].data;
				c->outlen = origin_msgs[ORIGIN_400][1].len;
				c->close_after = 1;
				c->inlen = 0;
				continue;
			}
			break;
		}
		size_t hlen = (size_t)(hend - c->in) + 4;
		enum origin_resp r = origin_parse(c, hlen);
		if (r == ORIGIN_400)
			c->close_after = 1;
		c->out = origin_msgs[r][c->close_after].data;
		c->outlen = origin_msgs[r][c->close_after].len;
		memmove(c->in, c->in + hlen, c->inlen - hlen);
		c->inlen -= hlen;
	}
	return origin_set_events(ep, c, 0) < 0 ? -1 : 0;
}

static void origin_on_read(int ep, struct origin_conn *c)
{
	for (;;) {
		if (c->inlen == sizeof(c->in))
			break;
		ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (n == 0) {
			origin_close(ep, c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			origin_close(ep, c);
			return;
		}
		c->inlen += (size_t)n;
		if (c->skip == 0 && memmem(c->in, c->inlen, "\r\n\r\n", 4))
			break; /* answer what we have before reading more */
	}
	if (origin_process(ep, c) < 0)
		origin_close(ep, c);
}

static void origin_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE: try again on the next event */
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct origin_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
		}
	}
}

static void *origin_thread(void *arg)
{
	(void)arg;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&origin_addr, sizeof(origin_addr)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("origin: listen");
		exit(1);
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("origin: epoll");
		exit(1);
	}
	struct epoll_event evs[ORIGIN_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, ORIGIN_EVENTS, -1);
		for (int i = 0; i < n; i++) {
			struct origin_conn *c = evs[i].data.ptr;
			if (!c) {
				origin_accept(ep, lfd);
				continue;
			}
			if (c->want_out) {
				if (origin_process(ep, c) < 0)
					origin_close(ep, c);
			} else {
				origin_on_read(ep, c);
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 19000, threads = 1, opt;
	while ((opt = getopt(argc, argv, "a:p:t:h")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-t THREADS]\n", argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || port < 1 || port > 65535) {
		fprintf(stderr, "origin: bad -t or -p\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	origin_addr.sin_family = AF_INET;
	origin_addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &origin_addr.sin_addr) != 1) {
		fprintf(stderr, "origin: bad address %s\n", addr);
		return 2;
	}
	origin_build(ORIGIN_SMALL, "200 OK", 12);
	origin_build(ORIGIN_64K, "200 OK", 65536);
	origin_build(ORIGIN_1M, "200 OK", 1048576);
	origin_build(ORIGIN_404, "404 Not Found", 10);
	origin_build(ORIGIN_400, "400 Bad Request", 12);
	pthread_t tids[64];
	for (int i = 1; i < threads; i++)
		pthread_create(&tids[i], NULL, origin_thread, NULL);
	fprintf(stderr, "origin: listening on %s:%d, %d thread(s)\n", addr, port, threads);
	origin_thread(NULL);
	return 0;
}
