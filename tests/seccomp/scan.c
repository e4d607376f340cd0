/*
 * scan: call every system call number in a range, each in its own forked
 * child with all six arguments zero, and print one line per number:
 *
 *   NR|<outcome>
 *
 * where the outcome is `errno:N` (the call failed with errno N), `ok` (it
 * returned), `exit:N` (the child ended inside the call: exit, exit_group),
 * `signal:N` (the call killed it) or `timeout` (still in the kernel after
 * the time limit, then killed). Only `errno:1` and `errno:38` (EPERM,
 * ENOSYS) can come from a seccomp filter that refuses; anything else
 * reached the kernel.
 *
 *   scan FIRST LAST [EXTRA...]
 *
 * Built statically at test time (tests/seccomp.rs, gcc -static) and
 * bind-mounted read-only into a container. Zero arguments harm nothing in
 * a container: pointers are NULL, lengths and flags zero; calls that
 * create a process (fork, vfork, clone) have the new one leave at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_MS 500

static void probe(long nr)
{
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		exit(2);
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(fds[0]);
		long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
		int e = r < 0 ? errno : 0;
		/* a new process made by fork, vfork or clone: leave at once */
		if (r == 0 && (nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone))
			syscall(SYS_exit, 0);
		int msg[2] = { r < 0 ? 1 : 0, e };
		/* write and exit only: they work even in seccomp strict mode */
		syscall(SYS_write, fds[1], msg, sizeof msg);
		syscall(SYS_exit, 0);
	}
	close(fds[1]);
	int status = 0, waited = 0;
	struct timespec tick = { 0, 1000000 };
	for (int ms = 0; ms < LIMIT_MS; ms++) {
		pid_t w = waitpid(pid, &status, WNOHANG | __WALL);
		if (w == pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
			waited = 1;
			break;
		}
		if (w == pid && WIFSTOPPED(status)) /* traced (PTRACE_TRACEME): let it go */
			kill(pid, SIGKILL);
		nanosleep(&tick, NULL);
	}
	int msg[2];
	ssize_t n = 0;
	if (!waited) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
			;
		printf("%ld|timeout\n", nr);
	} else if ((n = read(fds[0], msg, sizeof msg)) == (ssize_t)sizeof msg) {
		if (msg[0])
			printf("%ld|errno:%d\n", nr, msg[1]);
		else
			printf("%ld|ok\n", nr);
	} else if (WIFSIGNALED(status)) {
		printf("%ld|signal:%d\n", nr, WTERMSIG(status));
	} else {
		printf("%ld|exit:%d\n", nr, WEXITSTATUS(status));
	}
	close(fds[0]);
	/* reap what the calls left behind (clone children, orphans: we are pid 1) */
	while (waitpid(-1, &status, WNOHANG | __WALL) > 0)
		;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: scan FIRST LAST [EXTRA...]\n");
		return 2;
	}
	long first = strtol(argv[1], NULL, 0), last = strtol(argv[2], NULL, 0);
	for (long nr = first; nr <= last; nr++)
		probe(nr);
	for (int i = 3; i < argc; i++)
		probe(strtol(argv[i], NULL, 0));
	fflush(stdout);
	return 0;
}
