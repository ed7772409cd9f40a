/* SPDX-License-Identifier: MIT */
/* bench client: hold N idle keep-alive connections, or send exactly N keep-alive requests. */

/*
 * rwclient idle  -p PORT -n CONNS [-a ADDR] [-P PATH] [-H HOLD_S] [-T TIMEOUT_S]
 *   Opens CONNS connections, sends one GET on each and reads its response, then prints
 *   "READY ok=X failed=Y" on stdout and keeps every connection open until stdin reaches
 *   EOF or HOLD_S seconds pass (default 60). Used for the per-connection memory figure.
 * rwclient count -p PORT -n REQUESTS [-c CONNS] [-a ADDR] [-P PATH] [-T TIMEOUT_S]
 *   Sends exactly REQUESTS GETs over CONNS keep-alive connections (one in flight each)
 *   and prints "DONE requests=N errors=E non2xx=K seconds=S". Used under callgrind.
 * Loopback use only; every loop is bounded by TIMEOUT_S (default 120).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CL_HEAD 16384
#define CL_MAX_CONNECTING 256

enum cl_state { CL_CONNECTING = 0, CL_READING, CL_DONE, CL_FAILED };

struct cl_conn {
	int fd;
	enum cl_state state;
	size_t headlen;        /* bytes of head collected in head[] */
	long long body_left;   /* -1 until the head is parsed */
	int status;
	char head[CL_HEAD];
};

static struct sockaddr_in cl_addr;
static char cl_req[512];
static size_t cl_reqlen;
static long long cl_errors, cl_non2xx, cl_done;

static double cl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cl_open(int ep, struct cl_conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&cl_addr, sizeof(cl_addr)) < 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->state = CL_CONNECTING;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int cl_send_req(int ep, struct cl_conn *c)
{
	ssize_t n = send(c->fd, cl_req, cl_reqlen, MSG_NOSIGNAL);
	if (n != (ssize_t)cl_reqlen)
		return -1; /* a 60-byte request into an empty socket buffer is never partial */
	c->state = CL_READING;
	c->headlen = 0;
	c->body_left = -1;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Feed received bytes. 1 = response complete, 0 = need more, -1 = bad response. */
static int cl_feed(struct cl_conn *c, const char *p, size_t n)
{
	if (c->body_left < 0) {
		size_t k = n < CL_HEAD - c->headlen ? n : CL_HEAD - c->headlen;
		memcpy(c->head + c->headlen, p, k);
		c->headlen += k;
		char *e = memmem(c->head, c->headlen, "\r\n\r\n", 4);
		if (!e)
			return c->headlen == CL_HEAD ? -1 : 0;
		size_t hl = (size_t)(e - c->head) + 4;
		if (c->headlen < 12 || memcmp(c->head, "HTTP/1.", 7) != 0)
			return -1;
		c->status = atoi(c->head + 9);
		c->body_left = -2;
		for (char *l = memmem(c->head, hl, "\r\n", 2); l && l + 2 < c->head + hl;
		     l = memmem(l + 2, hl - (size_t)(l + 2 - c->head), "\r\n", 2)) {
			if (strncasecmp(l + 2, "content-length:", 15) == 0)
				c->body_left = strtoll(l + 17, NULL, 10);
		}
		if (c->body_left == -2)
			return -1; /* the origin always sends Content-Length; proxies keep it */
		c->body_left -= (long long)(c->headlen - hl);
		/* bytes of this read past head[] also count as body */
		c->body_left -= (long long)(n - k);
	} else {
		c->body_left -= (long long)n;
	}
	return c->body_left <= 0 ? 1 : 0;
}

/* Read what is there. 1 = response complete, 0 = more to come, -1 = error/EOF. */
static int cl_read(struct cl_conn *c)
{
	char buf[65536];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN ? 0 : (errno == EINTR ? 0 : -1);
		int r = cl_feed(c, buf, (size_t)n);
		if (r != 0)
			return r;
	}
}

static void cl_fail(int ep, struct cl_conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->state = CL_FAILED;
	cl_errors++;
}

static void cl_response_done(struct cl_conn *c)
{
	cl_done++;
	if (c->status < 200 || c->status > 299)
		cl_non2xx++;
}

static int cl_idle(long n, double hold, double timeout)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct cl_conn *cs = calloc((size_t)n, sizeof(*cs));
	if (ep < 0 || !cs) {
		perror("rwclient");
		return 1;
	}
	long next = 0, connecting = 0, finished = 0;
	double deadline = cl_now() + timeout;
	struct epoll_event evs[256];
	while (finished < n && cl_now() < deadline) {
		while (next < n && connecting < CL_MAX_CONNECTING) {
			if (cl_open(ep, &cs[next]) < 0) {
				cs[next].fd = -1;
				cs[next].state = CL_FAILED;
				cl_errors++;
				finished++;
			} else {
				connecting++;
			}
			next++;
		}
		int k = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < k; i++) {
			struct cl_conn *c = evs[i].data.ptr;
			int r = 0;
			if (c->state == CL_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				r = (err || cl_send_req(ep, c) < 0) ? -1 : 0;
			} else if (c->state == CL_READING) {
				r = cl_read(c);
			}
			if (r < 0) {
				cl_fail(ep, c);
				connecting--;
				finished++;
			} else if (r > 0) {
				cl_response_done(c);
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->state = CL_DONE;
				connecting--;
				finished++;
			}
		}
	}
	long ok = 0;
	for (long i = 0; i < n; i++)
		ok += cs[i].state == CL_DONE && cs[i].status >= 200 && cs[i].status <= 299;
	printf("READY ok=%ld failed=%ld\n", ok, n - ok);
	fflush(stdout);
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	double end = cl_now() + hold;
	while (cl_now() < end) {
		int pr = poll(&pfd, 1, 200);
		if (pr > 0) {
			char b[64];
			if (read(0, b, sizeof(b)) <= 0)
				break;
		}
	}
	return ok == n ? 0 : 1;
}

static int cl_count(long total, long conns, double timeout)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct cl_conn *cs = calloc((size_t)conns, sizeof(*cs));
	if (ep < 0 || !cs) {
		perror("rwclient");
		return 1;
	}
	long sent = 0, live = 0;
	double t0 = cl_now(), deadline = t0 + timeout;
	for (long i = 0; i < conns && i < total; i++) {
		if (cl_open(ep, &cs[i]) < 0) {
			cs[i].state = CL_FAILED;
			cl_errors++;
			continue;
		}
		live++;
	}
	struct epoll_event evs[256];
	while (live > 0 && cl_now() < deadline) {
		int k = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < k; i++) {
			struct cl_conn *c = evs[i].data.ptr;
			int r = 0;
			if (c->state == CL_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (!err && sent < total) {
					sent++;
					r = cl_send_req(ep, c) < 0 ? -1 : 0;
				} else {
					r = -1;
				}
			} else if (c->state == CL_READING) {
				r = cl_read(c);
				if (r > 0) {
					cl_response_done(c);
					if (sent < total) {
						sent++;
						r = cl_send_req(ep, c) < 0 ? -1 : 0;
					} else {
						epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
						close(c->fd);
						c->fd = -1;
						c->state = CL_DONE;
						live--;
						continue;
					}
				}
			}
			if (r < 0) {
				cl_fail(ep, c);
				live--;
			}
		}
	}
	printf("DONE requests=%lld errors=%lld non2xx=%lld seconds=%.3f\n", cl_done,
	       cl_errors + (total - cl_done - cl_errors > 0 ? total - cl_done - cl_errors : 0),
	       cl_non2xx, cl_now() - t0);
	return cl_done == total && cl_non2xx == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rwclient idle|count -p PORT -n N [-c CONNS] [-a ADDR] [-P PATH] "
				"[-H HOLD_S] [-T TIMEOUT_S]\n");
		return 2;
	}
	const char *mode = argv[1], *addr = "127.0.0.1", *path = "/small";
	long n = 0, conns = 10;
	int port = 0, opt;
	double hold = 60, timeout = 120;
	optind = 2;
	while ((opt = getopt(argc, argv, "a:p:n:c:P:H:T:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = atol(optarg); break;
		case 'c': conns = atol(optarg); break;
		case 'P': path = optarg; break;
		case 'H': hold = atof(optarg); break;
		case 'T': timeout = atof(optarg); break;
		default: return 2;
		}
	}
	if (port < 1 || port > 65535 || n < 1 || conns < 1 || strlen(path) > 256) {
		fprintf(stderr, "rwclient: need -p PORT and -n N >= 1\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cl_addr.sin_family = AF_INET;
	cl_addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &cl_addr.sin_addr) != 1) {
		fprintf(stderr, "rwclient: bad address %s\n", addr);
		return 2;
	}
	cl_reqlen = (size_t)snprintf(cl_req, sizeof(cl_req),
				     "GET %s HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: rwclient\r\n\r\n", path);
	if (strcmp(mode, "idle") == 0)
		return cl_idle(n, hold, timeout);
	if (strcmp(mode, "count") == 0)
		return cl_count(n, conns, timeout);
	fprintf(stderr, "rwclient: mode must be idle or count\n");
	return 2;
}
