// httpc: HTTP/1.1 keep-alive load clients for bench/stalls.py and the fixed-rate comparison in
// bench/README.md (127.0.0.1 only; every run bounded). Build: gcc -O2 -o httpc httpc.c
//
//   httpc closed HOST PORT PATH CONNS SECONDS OUT
//     Closed loop like `wrk -t1 -cCONNS`: each connection sends its next request as soon as
//     its answer is in. Writes "send_ns receive_ns connection" per answer to OUT
//     (CLOCK_MONOTONIC, the clock `perf record -k CLOCK_MONOTONIC` uses).
//   httpc rate HOST PORT PATH CONNS SECONDS RATE
//     Request i is due at i/RATE on connection i % CONNS and is sent when due, or as soon as
//     that connection's previous answer is in if it is late; latency runs from the due time
//     (no coordinated omission). Spins on its core for µs precision. Prints percentiles.
//
// Both assume small answers that arrive in one read and no pipelining (GET /health).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

static int connect_all(const char *host, const char *port, int conns, int *fd) {
  int ep = epoll_create1(0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
  inet_pton(AF_INET, host, &a.sin_addr);
  for (int i = 0; i < conns; i++) {
    fd[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd[i], (void *)&a, sizeof a)) {
      perror("connect");
      exit(1);
    }
    int one = 1;
    setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd[i], F_SETFL, O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &e);
  }
  return ep;
}

int main(int argc, char **argv) {
  if (argc < 8 || (strcmp(argv[1], "closed") && strcmp(argv[1], "rate"))) {
    fprintf(stderr, "usage: httpc closed HOST PORT PATH CONNS SECONDS OUT\n"
                    "       httpc rate HOST PORT PATH CONNS SECONDS RATE\n");
    return 2;
  }
  int closed = !strcmp(argv[1], "closed");
  int conns = atoi(argv[5]);
  double secs = atof(argv[6]);
  char req[512];
  int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\n\r\n", argv[4], argv[2], argv[3]);
  int *fd = calloc(conns, sizeof(int));
  long long *sent = calloc(conns, sizeof(long long)); // send (closed) or due (rate) time
  int *busy = calloc(conns, sizeof(int));
  int ep = connect_all(argv[2], argv[3], conns, fd);
  struct epoll_event ev[256];
  char buf[16384];

  if (closed) {
    size_t cap = (size_t)(secs * 2000000) + 1000, n = 0;
    long long(*rec)[3] = malloc(cap * sizeof *rec);
    long long end = now() + (long long)(secs * 1e9);
    for (int i = 0; i < conns; i++) {
      sent[i] = now();
      if (write(fd[i], req, rl) != rl) return 1;
    }
    while (now() < end) {
      int k = epoll_wait(ep, ev, 256, 100);
      for (int j = 0; j < k; j++) {
        int i = ev[j].data.u32;
        if (read(fd[i], buf, sizeof buf) <= 0) continue;
        long long t = now();
        if (n < cap) {
          rec[n][0] = sent[i];
          rec[n][1] = t;
          rec[n][2] = i;
          n++;
        }
        sent[i] = now();
        if (write(fd[i], req, rl) != rl) return 1;
      }
    }
    FILE *f = fopen(argv[7], "w");
    for (size_t i = 0; i < n; i++) fprintf(f, "%lld %lld %lld\n", rec[i][0], rec[i][1], rec[i][2]);
    fclose(f);
    fprintf(stderr, "%zu answers, %.0f/s\n", n, n / secs);
    return 0;
  }

  double rate = atof(argv[7]);
  long long total = (long long)(rate * secs), got = 0, next = 0;
  long long *lat = malloc(total * sizeof(long long));
  long long t0 = now() + 100000000LL, deadline = t0 + (long long)(secs * 1e9) + 2000000000LL;
  while (got < total && now() < deadline) {
    int k = epoll_wait(ep, ev, 256, 0);
    for (int j = 0; j < k; j++) {
      int i = ev[j].data.u32;
      if (read(fd[i], buf, sizeof buf) <= 0) continue;
      lat[got++] = now() - sent[i];
      busy[i] = 0;
    }
    long long t = now();
    // Due requests go out in order; one whose connection is still busy waits for it.
    while (next < total) {
      long long due = t0 + (long long)(next * 1e9 / rate);
      int i = next % conns;
      if (due > t || busy[i]) break;
      sent[i] = due;
      busy[i] = 1;
      if (write(fd[i], req, rl) != rl) return 1;
      next++;
    }
  }
  if (got == 0) return 1;
  qsort(lat, got, sizeof(long long), cmp);
#define P(p) (lat[(long long)((got - 1) * (p))] / 1000.0)
  printf("rate %.0f sent %lld answered %lld p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f us\n", rate, next, got,
         P(.5), P(.9), P(.99), P(.999), lat[got - 1] / 1000.0);
  return 0;
}
