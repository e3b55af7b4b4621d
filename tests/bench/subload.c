/*
 * subload.c - many subscribers for parkd, counting what they receive.
 *
 *   subload -p PORT [-h HOST] [-o OCCUPANCY_SUBSCRIBERS] [-e EVENTS_SUBSCRIBERS]
 *           [-t THREADS]
 *
 * Opens -o connections subscribed to "occupancy" and -e connections
 * subscribed to "events" (protected mode: loopback connections are
 * operators), prints "READY" once every subscription is confirmed, and then
 * reads everything until SIGINT or SIGTERM.  At the end it prints, per
 * topic, the fewest and most notifications one connection received, the
 * total, how many occupancy connections last saw free == total (the state
 * of an empty garage), connections lost, and one machine-readable line:
 *
 *   RESULT occ_conns=.. occ_min=.. occ_max=.. occ_total=.. occ_idle_last=..
 *          ev_conns=.. ev_min=.. ev_max=.. ev_total=.. lost=..
 *
 * Lines are told apart by their topic member, not parsed as JSON: the
 * daemon writes them, and only counting is asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SUBS	20000
#define MAX_THREADS	16
#define RBUF		(1u << 16)

struct sub {
	int fd, events, dead, confirmed;
	uint64_t n;			/* notifications received */
	long last_free, last_total;	/* occupancy: the last counts seen */
	char *buf;
	size_t len;
};

static volatile sig_atomic_t stop;
static const char *host = "127.0.0.1", *port;
static int n_occ = 1000, n_ev = 100, n_threads = 2;
static struct sub *subs;
static int n_subs;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
dial(const struct addrinfo *ai)
{
	int fd = -1, one = 1;

	for (; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static long
number_after(const char *line, size_t len, const char *key)
{
	const char *p = memmem(line, len, key, strlen(key));

	return p == NULL ? -1 : strtol(p + strlen(key), NULL, 10);
}

static void
one_line(struct sub *s, const char *line, size_t len)
{
	if (memmem(line, len, "\"method\":\"event\"", 16) == NULL) {
		/* The reply to subscribe. */
		if (memmem(line, len, "\"result\"", 8) != NULL)
			s->confirmed = 1;
		else
			s->dead = 1;
		return;
	}
	s->n++;
	if (!s->events) {
		s->last_free = number_after(line, len, "\"free\":");
		s->last_total = number_after(line, len, "\"total\":");
	}
}

static void
sub_read(struct sub *s)
{
	for (;;) {
		ssize_t n = recv(s->fd, s->buf + s->len, RBUF - s->len, 0);
		size_t start = 0;

		if (n == 0) {
			s->dead = 1;
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->dead = 1;
			return;
		}
		s->len += (size_t)n;
		for (;;) {
			char *nl = memchr(s->buf + start, '\n', s->len - start);

			if (nl == NULL)
				break;
			one_line(s, s->buf + start, (size_t)(nl - (s->buf + start)));
			start = (size_t)(nl - s->buf) + 1;
		}
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
		if (s->len == RBUF) {
			s->dead = 1;	/* a line longer than the buffer */
			return;
		}
	}
}

struct worker {
	pthread_t th;
	int ep;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[256];

	while (!stop) {
		int n = epoll_wait(w->ep, ev, 256, 100);

		for (int i = 0; i < n; i++) {
			struct sub *s = ev[i].data.ptr;

			if (!s->dead)
				sub_read(s);
			if (s->dead)
				epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
		}
	}
	return NULL;
}

static int
int_arg(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *ai = NULL;
	struct worker ws[MAX_THREADS];
	uint64_t occ_min = UINT64_MAX, occ_max = 0, occ_total = 0;
	uint64_t ev_min = UINT64_MAX, ev_max = 0, ev_total = 0;
	int ch, lost = 0, idle_last = 0;

	while ((ch = getopt(argc, argv, "p:h:o:e:t:")) != -1) {
		switch (ch) {
		case 'p': port = optarg; break;
		case 'h': host = optarg; break;
		case 'o':
			if (int_arg(optarg, 0, MAX_SUBS, &n_occ) != 0)
				return 2;
			break;
		case 'e':
			if (int_arg(optarg, 0, MAX_SUBS, &n_ev) != 0)
				return 2;
			break;
		case 't':
			if (int_arg(optarg, 1, MAX_THREADS, &n_threads) != 0)
				return 2;
			break;
		default:
			fprintf(stderr, "usage: subload -p PORT [-h HOST] [-o N] [-e N] [-t THREADS]\n");
			return 2;
		}
	}
	if (port == NULL || n_occ + n_ev == 0 || n_occ + n_ev > MAX_SUBS) {
		fprintf(stderr, "usage: subload -p PORT [-h HOST] [-o N] [-e N] [-t THREADS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		fprintf(stderr, "subload: cannot resolve %s:%s\n", host, port);
		return 2;
	}
	n_subs = n_occ + n_ev;
	subs = calloc((size_t)n_subs, sizeof(*subs));
	if (subs == NULL)
		return 2;
	for (int t = 0; t < n_threads; t++)
		ws[t].ep = epoll_create1(EPOLL_CLOEXEC);
	/* Subscribe blocking, one at a time: confirmed before the load starts. */
	for (int i = 0; i < n_subs; i++) {
		struct sub *s = &subs[i];
		const char *req = i < n_occ ?
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"topics\":[\"occupancy\"]}}\n" :
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"topics\":[\"events\"]}}\n";
		struct epoll_event ev;

		s->events = i >= n_occ;
		s->last_free = s->last_total = -1;
		s->buf = malloc(RBUF);
		s->fd = dial(ai);
		if (s->fd < 0 || s->buf == NULL ||
		    send(s->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
			fprintf(stderr, "subload: connection %d: %s\n", i, strerror(errno));
			return 2;
		}
		while (!s->confirmed && !s->dead) {
			ssize_t n = recv(s->fd, s->buf + s->len, RBUF - s->len, 0);
			size_t start = 0;

			if (n <= 0) {
				s->dead = 1;
				break;
			}
			s->len += (size_t)n;
			for (char *nl; (nl = memchr(s->buf + start, '\n', s->len - start)) != NULL;) {
				one_line(s, s->buf + start, (size_t)(nl - (s->buf + start)));
				start = (size_t)(nl - s->buf) + 1;
			}
			memmove(s->buf, s->buf + start, s->len - start);
			s->len -= start;
		}
		if (s->dead) {
			fprintf(stderr, "subload: connection %d was refused a subscription\n", i);
			return 2;
		}
		fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = s;
		epoll_ctl(ws[i % n_threads].ep, EPOLL_CTL_ADD, s->fd, &ev);
	}
	freeaddrinfo(ai);
	for (int t = 0; t < n_threads; t++)
		pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
	printf("READY %d occupancy, %d events subscribers\n", n_occ, n_ev);
	fflush(stdout);
	for (int t = 0; t < n_threads; t++)
		pthread_join(ws[t].th, NULL);

	for (int i = 0; i < n_subs; i++) {
		struct sub *s = &subs[i];

		lost += s->dead;
		if (s->events) {
			ev_min = s->n < ev_min ? s->n : ev_min;
			ev_max = s->n > ev_max ? s->n : ev_max;
			ev_total += s->n;
		} else {
			occ_min = s->n < occ_min ? s->n : occ_min;
			occ_max = s->n > occ_max ? s->n : occ_max;
			occ_total += s->n;
			idle_last += s->last_free >= 0 && s->last_free == s->last_total;
		}
		close(s->fd);
		free(s->buf);
	}
	if (n_occ == 0)
		occ_min = 0;
	if (n_ev == 0)
		ev_min = 0;
	printf("RESULT occ_conns=%d occ_min=%" PRIu64 " occ_max=%" PRIu64
	    " occ_total=%" PRIu64 " occ_idle_last=%d ev_conns=%d ev_min=%" PRIu64
	    " ev_max=%" PRIu64 " ev_total=%" PRIu64 " lost=%d\n", n_occ, occ_min,
	    occ_max, occ_total, idle_last, n_ev, ev_min, ev_max, ev_total, lost);
	free(subs);
	return lost ? 1 : 0;
}
