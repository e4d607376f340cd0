/*
 * probe: the escape corpus's attempts, run inside a skiff container.
 *
 * Built statically at test time (gcc -static; tests/escape.rs and
 * scripts/escape-test.sh do it) and bind-mounted read-only at /probe.
 *
 *   probe list                 the attempt names, one a line
 *   probe NAME [ARGS]          one attempt
 *   probe all                  every attempt that needs no arguments
 *
 * Each attempt prints exactly one line:
 *
 *   ATTEMPT|<name>|<blocked|ESCAPED>|<what happened>|<what stopped it>
 *
 * and exits 0 when blocked, 1 when it escaped. An attempt counts as blocked
 * only when the kernel refused it before acting (EPERM, EROFS, ...); a
 * syscall that got past the refusal and failed for another reason (EINVAL,
 * EFAULT...) counts as ESCAPED: the protection did not hold.
 *
 * "What stopped it" is measured where the kernel allows: a second call with
 * deliberately invalid arguments, which without a seccomp filter fails with
 * EINVAL/EFAULT/EBADF before any capability check, returns EPERM only when
 * the seccomp filter refused it. Where the kernel checks the capability
 * before the arguments (reboot, kexec_load, init_module), both apply and the
 * line says so.
 *
 * Nothing here can harm a host if a protection were missing: writes are
 * only opens for writing (closed unwritten), reboot asks for CAD_OFF (which
 * inside a pid namespace is EINVAL), and kexec_load / init_module get no
 * image.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

static int escaped_any;

static void report(const char *name, int escaped, const char *mech, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	for (char *p = what; *p; p++)
		if (*p == '|' || *p == '\n')
			*p = ' ';
	printf("ATTEMPT|%s|%s|%s|%s\n", name, escaped ? "ESCAPED" : "blocked", what, mech);
	fflush(stdout);
	if (escaped)
		escaped_any = 1;
}

static const char *ename(int e)
{
	switch (e) {
	case 0: return "success";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EROFS: return "EROFS";
	case ENOENT: return "ENOENT";
	case ENOSYS: return "ENOSYS";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EBADF: return "EBADF";
	case ETXTBSY: return "ETXTBSY";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EEXIST: return "EEXIST";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case EBUSY: return "EBUSY";
	case ENOEXEC: return "ENOEXEC";
	case E2BIG: return "E2BIG";
	case ESRCH: return "ESRCH";
	default: return strerror(e);
	}
}

/* errno of a raw syscall (0 when it succeeded). */
#define TRY(call) ((call) < 0 ? errno : 0)

/*
 * The common shape: `e` is the errno of the real attempt; `probe_e` the errno
 * of the same call with invalid arguments (-1 when no such probe exists).
 */
static void syscall_attempt(const char *name, const char *call, int e, int probe_e,
			    const char *cap_mech, const char *both_mech)
{
	if (e != EPERM) {
		report(name, 1, "none", "%s: %s (got past the refusal)", call, ename(e));
		return;
	}
	if (probe_e < 0)
		report(name, 0, both_mech, "%s: EPERM", call);
	else if (probe_e == EPERM)
		report(name, 0, "seccomp filter (EPERM)",
		       "%s: EPERM; same call with invalid arguments: EPERM (filtered before the kernel looked)",
		       call);
	else
		report(name, 0, cap_mech,
		       "%s: EPERM; same call with invalid arguments: %s (so not seccomp)", call,
		       ename(probe_e));
}

/* ---------------------------------------------------------------- mounts */

static void a_mount(void)
{
	mkdir("/mnt", 0755);
	int e = TRY(mount("tmpfs", "/mnt", "tmpfs", 0, ""));
	if (e == 0)
		umount2("/mnt", MNT_DETACH);
	/* without the filter: EFAULT copying the bad target pointer */
	int p = TRY(syscall(SYS_mount, NULL, (char *)1, NULL, 0, NULL));
	syscall_attempt("mount", "mount(tmpfs, /mnt)", e, p, "no CAP_SYS_ADMIN", NULL);
}

static void a_mount_newapi(void)
{
	int e = TRY(syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE));
	/* without the filter: EINVAL for unknown flags, checked first */
	int p = TRY(syscall(SYS_open_tree, -1, "/", 0x7fff0000));
	int f = TRY(syscall(SYS_fsopen, "tmpfs", 0));
	if (f != EPERM)
		e = f;
	syscall_attempt("mount-new-api", "open_tree(/, OPEN_TREE_CLONE) and fsopen(tmpfs)", e, p,
			"no CAP_SYS_ADMIN", NULL);
}

static void a_umount(void)
{
	int e = TRY(umount2("/proc/sys", MNT_DETACH));
	/* without the filter: EINVAL for unknown flags, checked first */
	int p = TRY(syscall(SYS_umount2, "/", 0x80000000));
	syscall_attempt("umount", "umount2(/proc/sys, MNT_DETACH)", e, p, "no CAP_SYS_ADMIN",
			NULL);
}

/* ------------------------------------------------------------ namespaces */

static void unshare_attempt(const char *name, int flag, const char *call, const char *cap)
{
	int e = TRY(unshare(flag));
	/* without the filter: EINVAL for an unknown flag, checked first */
	int p = TRY(syscall(SYS_unshare, 0x1000 /* CLONE_PIDFD */));
	syscall_attempt(name, call, e, p, cap, NULL);
}

static void a_unshare_user(void)
{
	unshare_attempt("unshare-user", CLONE_NEWUSER, "unshare(CLONE_NEWUSER)",
			"no CAP_SYS_ADMIN");
}

static void a_unshare_mnt(void)
{
	unshare_attempt("unshare-mnt", CLONE_NEWNS, "unshare(CLONE_NEWNS)", "no CAP_SYS_ADMIN");
}

static void a_unshare_net(void)
{
	unshare_attempt("unshare-net", CLONE_NEWNET, "unshare(CLONE_NEWNET)", "no CAP_SYS_ADMIN");
}

static void a_clone_newuser(void)
{
	/* clone(CLONE_NEWUSER): the filter matches the flag argument */
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	int e = r < 0 ? errno : 0;
	if (r > 0)
		waitpid(r, NULL, 0);
	/* without the filter: EINVAL for CLONE_NEWUSER|CLONE_FS, checked first */
	r = syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	int p = r < 0 ? errno : 0;
	if (r > 0)
		waitpid(r, NULL, 0);
	/* clone3 answers ENOSYS, so libc falls back to clone */
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	r = syscall(SYS_clone3, &args, sizeof args);
	if (r == 0)
		_exit(0);
	int e3 = r < 0 ? errno : 0;
	if (r > 0)
		waitpid(r, NULL, 0);
	if (e3 != ENOSYS && e3 != EPERM) {
		report("clone-newuser", 1, "none", "clone3(CLONE_NEWUSER): %s", ename(e3));
		return;
	}
	syscall_attempt("clone-newuser", "clone(CLONE_NEWUSER) (clone3: ENOSYS)", e, p,
			"no CAP_SYS_ADMIN", NULL);
}

static void a_setns(void)
{
	int fd = open("/proc/self/ns/mnt", O_RDONLY);
	int e = fd < 0 ? errno : TRY(setns(fd, CLONE_NEWNS));
	if (fd >= 0)
		close(fd);
	/* without the filter: EBADF */
	int p = TRY(syscall(SYS_setns, -1, 0));
	syscall_attempt("setns", "setns(/proc/self/ns/mnt)", e, p, "no CAP_SYS_ADMIN", NULL);
}

/* ------------------------------------------------------------------ keys */

static void a_keyctl(void)
{
	int e = TRY(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "skiff-escape"));
	/* without the filter: EOPNOTSUPP for an unknown operation */
	int p = TRY(syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0));
	/* keyrings are not namespaced: nothing else would stop it */
	syscall_attempt("keyctl", "keyctl(KEYCTL_JOIN_SESSION_KEYRING)", e, p, "?", NULL);
}

static void a_add_key(void)
{
	int e = TRY(syscall(SYS_add_key, "user", "skiff-escape", "x", 1,
			    KEY_SPEC_PROCESS_KEYRING));
	/* without the filter: EINVAL for a payload over 1 MiB, checked first */
	int p = TRY(syscall(SYS_add_key, "user", "skiff-escape", "x", 0x7fffffff,
			    KEY_SPEC_PROCESS_KEYRING));
	int r = TRY(syscall(SYS_request_key, "user", "skiff-escape", NULL, 0));
	if (r != EPERM && e == EPERM) {
		report("add-key", 1, "none", "request_key: %s", ename(r));
		return;
	}
	syscall_attempt("add-key", "add_key(user) and request_key", e, p, "?", NULL);
}

/* ---------------------------------------------------------------- kernel */

static void a_reboot(void)
{
	/* CAD_OFF: harmless anywhere; in a pid namespace it is EINVAL */
	int e = TRY(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			    LINUX_REBOOT_CMD_CAD_OFF, NULL));
	syscall_attempt("reboot", "reboot(CAD_OFF)", e, -1, NULL,
			"seccomp filter (EPERM); CAP_SYS_BOOT absent too");
}

static void a_kexec_load(void)
{
	int e = TRY(syscall(SYS_kexec_load, 0, 0, NULL, 0));
	int f = TRY(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
	if (e == EPERM && f != EPERM)
		e = f;
	syscall_attempt("kexec-load", "kexec_load and kexec_file_load", e, -1, NULL,
			"seccomp filter (EPERM); CAP_SYS_BOOT absent too");
}

static void a_init_module(void)
{
	int e = TRY(syscall(SYS_init_module, NULL, 0, ""));
	int f = TRY(syscall(SYS_finit_module, -1, "", 0));
	int d = TRY(syscall(SYS_delete_module, "skiff_escape", O_NONBLOCK));
	if (e == EPERM && f != EPERM)
		e = f;
	if (e == EPERM && d != EPERM)
		e = d;
	syscall_attempt("init-module", "init_module, finit_module and delete_module", e, -1, NULL,
			"seccomp filter (EPERM); CAP_SYS_MODULE absent too");
}

static void a_bpf(void)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	long r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
	int e = r < 0 ? errno : 0;
	if (r >= 0)
		close(r);
	/* without the filter: EINVAL for an unknown command */
	int p = TRY(syscall(SYS_bpf, 0xffff, &attr, sizeof attr));
	syscall_attempt("bpf", "bpf(BPF_MAP_CREATE)", e, p, "no CAP_BPF/CAP_SYS_ADMIN", NULL);
}

static void a_perf_event_open(void)
{
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof pa);
	pa.size = sizeof pa;
	pa.type = PERF_TYPE_SOFTWARE;
	pa.config = PERF_COUNT_SW_CPU_CLOCK;
	pa.exclude_kernel = 1;
	pa.exclude_hv = 1;
	pa.disabled = 1;
	long r = syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
	int e = r < 0 ? errno : 0;
	if (r >= 0)
		close(r);
	/* without the filter: EFAULT reading the attributes */
	int p = TRY(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	/* perf_event_paranoid <= 2 lets anyone count its own user-space events */
	syscall_attempt("perf-event-open", "perf_event_open(self, cpu-clock)", e, p, "?", NULL);
}

/* ------------------------------------------------------- newer surfaces */

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif

static void a_io_uring_setup(void)
{
	/* struct io_uring_params is 120 bytes; zeroed asks for nothing special */
	unsigned char params[120];
	memset(params, 0, sizeof params);
	long r = syscall(SYS_io_uring_setup, 4, params);
	int e = r < 0 ? errno : 0;
	if (r >= 0)
		close(r);
	/* without the filter: EINVAL for zero entries (or EFAULT), never EPERM
	   unless kernel.io_uring_disabled says so */
	int p = TRY(syscall(SYS_io_uring_setup, 0, NULL));
	syscall_attempt("io-uring-setup", "io_uring_setup(4 entries)", e, p,
			"kernel.io_uring_disabled", NULL);
}

static void a_personality(void)
{
	/* ADDR_NO_RANDOMIZE: ASLR off for this process and what it execs */
	long r = syscall(SYS_personality, 0x0040000UL);
	int e = r < 0 ? errno : 0;
	long now = syscall(SYS_personality, 0xffffffffUL);
	if (e == 0 && now >= 0 && !(now & 0x0040000))
		e = EINVAL; /* accepted but not set: report what happened */
	if (e == 0)
		syscall(SYS_personality, 0UL);
	/* no capability guards personality(2): only a filter refuses it */
	syscall_attempt("personality", "personality(ADDR_NO_RANDOMIZE)", e, -1, NULL,
			"seccomp filter (EPERM); docker's personas only");
}

static void a_kcmp(void)
{
	/* compare two of our own descriptors: allowed by the kernel for self */
	pid_t me = getpid();
	int e = TRY(syscall(SYS_kcmp, me, me, 0 /* KCMP_FILE */, 0, 1));
	/* without the filter: EINVAL for an unknown type */
	int p = TRY(syscall(SYS_kcmp, me, me, 0x7fff, 0, 0));
	syscall_attempt("kcmp", "kcmp(self, self, KCMP_FILE, 0, 1)", e, p, "?", NULL);
}

/* -------------------------------------------------------------- hostname */

static void a_sethostname(void)
{
	char before[256] = "", after[256] = "";
	gethostname(before, sizeof before);
	int e = TRY(sethostname("escaped", 7));
	gethostname(after, sizeof after);
	if (e == 0 || strcmp(before, after) != 0) {
		report("sethostname", 1, "none", "sethostname: %s, hostname now %s", ename(e), after);
		return;
	}
	/* sethostname is not filtered (docker allows it); the capability check
	   comes before the length check, so there is no discriminating probe */
	syscall_attempt("sethostname", "sethostname(escaped)", e, -1, NULL,
			"no CAP_SYS_ADMIN (not in the seccomp filter; private UTS namespace)");
}

/* ------------------------------------------------------------- netlink */

struct nlreq {
	struct nlmsghdr n;
	struct ifinfomsg i;
	char buf[1024];
};

static struct rtattr *addattr(struct nlmsghdr *n, int type, const void *data, int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void endnest(struct nlmsghdr *n, struct rtattr *nest)
{
	nest->rta_len = (char *)n + NLMSG_ALIGN(n->nlmsg_len) - (char *)nest;
}

/* RTM_NEWLINK; returns the errno of the kernel's answer (0 = created). */
static int newlink(const char *ifname, const char *kind, const char *peer)
{
	struct nlreq req;
	memset(&req, 0, sizeof req);
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.n.nlmsg_type = RTM_NEWLINK;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	req.i.ifi_family = AF_UNSPEC;
	addattr(&req.n, IFLA_IFNAME, ifname, strlen(ifname) + 1);
	struct rtattr *info = addattr(&req.n, IFLA_LINKINFO, NULL, 0);
	addattr(&req.n, IFLA_INFO_KIND, kind, strlen(kind));
	if (peer) {
		struct rtattr *data = addattr(&req.n, IFLA_INFO_DATA, NULL, 0);
		struct rtattr *p = addattr(&req.n, VETH_INFO_PEER, NULL, 0);
		req.n.nlmsg_len += sizeof(struct ifinfomsg); /* zeroed */
		addattr(&req.n, IFLA_IFNAME, peer, strlen(peer) + 1);
		endnest(&req.n, p);
		endnest(&req.n, data);
	}
	endnest(&req.n, info);
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(s, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(s);
		return e;
	}
	char buf[4096];
	ssize_t n = recv(s, buf, sizeof buf, 0);
	close(s);
	if (n < 0)
		return errno;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *err = NLMSG_DATA(h);
		return -err->error;
	}
	return EINVAL;
}

static void link_attempt(const char *name, const char *ifname, const char *kind,
			 const char *peer)
{
	int e = newlink(ifname, kind, peer);
	if (e == EPERM)
		report(name, 0, "no CAP_NET_ADMIN (private network namespace besides)",
		       "RTM_NEWLINK %s type %s: EPERM", ifname, kind);
	else
		report(name, 1, "none", "RTM_NEWLINK %s type %s: %s", ifname, kind, ename(e));
}

static void a_link_dummy(void)
{
	link_attempt("link-dummy", "escdummy0", "dummy", NULL);
}

static void a_link_veth(void)
{
	link_attempt("link-veth", "escveth0", "veth", "escveth1");
}

/* ---------------------------------------------------------------- devices */

/* The first block device the host's kernel lists in /proc/partitions. */
static int first_block_device(unsigned *maj, unsigned *min, char *name, size_t len)
{
	FILE *f = fopen("/proc/partitions", "r");
	if (!f)
		return -1;
	char line[256];
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		char n[64];
		unsigned long long blocks;
		if (sscanf(line, " %u %u %llu %63s", maj, min, &blocks, n) == 4) {
			snprintf(name, len, "%s", n);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void a_mknod_block(void)
{
	unsigned maj = 8, min = 0;
	char name[64] = "sda (not in /proc/partitions)";
	first_block_device(&maj, &min, name, sizeof name);
	mkdir("/tmp", 01777);
	const char *node = "/tmp/skiff-escape-blk";
	unlink(node);
	if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) < 0) {
		int e = errno;
		report("mknod-block", 0, e == EPERM ? "no CAP_MKNOD" : "mknod refused",
		       "mknod b %u:%u (%s): %s", maj, min, name, ename(e));
		return;
	}
	int fd = open(node, O_RDONLY);
	int e = fd < 0 ? errno : 0;
	if (fd >= 0) {
		char buf[512];
		ssize_t n = read(fd, buf, sizeof buf);
		close(fd);
		unlink(node);
		report("mknod-block", 1, "none", "mknod b %u:%u (%s) ok, open ok, read %zd bytes",
		       maj, min, name, n);
		return;
	}
	unlink(node);
	/* a nodev mount would say EACCES; the device cgroup (v1 devices.allow,
	   v2 BPF program) says EPERM, before the driver (ENXIO) is reached */
	report("mknod-block", e != EPERM && e != EACCES,
	       e == EPERM ? "device cgroup (EPERM on open; mknod itself allowed by CAP_MKNOD)"
			  : e == EACCES ? "nodev mount" : "none",
	       "mknod b %u:%u (%s) ok, open: %s", maj, min, name, ename(e));
}

/* ------------------------------------------------------------ /proc, /sys */

static void write_attempt(const char *name, const char *path)
{
	int fd = open(path, O_WRONLY);
	int e = fd < 0 ? errno : 0;
	if (fd >= 0) {
		close(fd);
		report(name, 1, "none", "open(%s, O_WRONLY): success", path);
	} else if (e == EROFS)
		report(name, 0, "read-only mount", "open(%s, O_WRONLY): EROFS", path);
	else if (e == ENOENT)
		report(name, 0, "not in this kernel (skiff mounts it read-only where it exists)",
		       "open(%s, O_WRONLY): ENOENT", path);
	else
		report(name, 0, "?", "open(%s, O_WRONLY): %s", path, ename(e));
}

static void a_sysrq(void)
{
	write_attempt("write-sysrq-trigger", "/proc/sysrq-trigger");
}

static void a_proc_sys_hostname(void)
{
	write_attempt("write-proc-sys-hostname", "/proc/sys/kernel/hostname");
}

static void a_drop_caches(void)
{
	write_attempt("write-proc-sys-drop-caches", "/proc/sys/vm/drop_caches");
}

static void a_core_pattern(void)
{
	write_attempt("write-core-pattern", "/proc/sys/kernel/core_pattern");
}

static void a_cgroup_release_agent(void)
{
	/* CVE-2022-0492: release_agent exists only in a hierarchy's root; a
	   container sees its own cgroup as the root, so try notify_on_release */
	const char *paths[] = { "/sys/fs/cgroup/memory/release_agent",
				"/sys/fs/cgroup/memory/notify_on_release",
				"/sys/fs/cgroup/cgroup.procs", NULL };
	for (int i = 0; paths[i]; i++) {
		if (access(paths[i], F_OK) == 0) {
			write_attempt("write-cgroupfs", paths[i]);
			return;
		}
	}
	report("write-cgroupfs", 0, "no cgroup files visible", "no cgroupfs file found");
}

static void a_sys_write(void)
{
	const char *paths[] = { "/sys/kernel/uevent_helper", "/sys/kernel/rcu_expedited",
				"/sys/kernel/profiling", NULL };
	for (int i = 0; paths[i]; i++) {
		if (access(paths[i], F_OK) == 0) {
			write_attempt("write-sys", paths[i]);
			return;
		}
	}
	write_attempt("write-sys", paths[0]);
}

/* Reading a masked file: /dev/null over it, so it reads as empty. */
static void read_attempt(const char *name, const char *path, const char *unmasked_mech)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		report(name, 0,
		       e == ENOENT ? "not in this kernel (skiff masks it where it exists)" : "?",
		       "stat(%s): %s", path, ename(e));
		return;
	}
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		int e = errno;
		report(name, 0, unmasked_mech, "open(%s): %s", path, ename(e));
		return;
	}
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	if (n > 0)
		report(name, 1, "none", "read(%s): %zd bytes", path, n);
	else if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
		report(name, 0, "masked path (/dev/null bound over it)",
		       "%s is /dev/null (c 1:3), read: %zd bytes", path, n);
	else
		report(name, 0, "?", "read(%s): %zd bytes", path, n);
}

static void a_kcore(void)
{
	read_attempt("read-kcore", "/proc/kcore", "no CAP_SYS_RAWIO");
}

static void a_keys(void)
{
	read_attempt("read-proc-keys", "/proc/keys", "?");
}

static void a_sys_firmware(void)
{
	DIR *d = opendir("/sys/firmware");
	if (!d) {
		int e = errno;
		report("read-sys-firmware", 0, e == ENOENT ? "absent" : "?", "opendir: %s", ename(e));
		return;
	}
	int n = 0;
	char first[256] = "";
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!n++)
			snprintf(first, sizeof first, "%s", de->d_name);
	}
	closedir(d);
	struct statvfs sv;
	int ro = statvfs("/sys/firmware", &sv) == 0 && (sv.f_flag & ST_RDONLY);
	if (n)
		report("read-sys-firmware", 1, "none", "/sys/firmware lists %d entries (%s...)", n,
		       first);
	else
		report("read-sys-firmware", 0, "masked path (empty read-only tmpfs over it)",
		       "/sys/firmware is empty%s", ro ? ", read-only" : "");
}

/* -------------------------------------------------------------- fds, cwd */

static void a_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		report("inherited-fd", 1, "none", "cannot list /proc/self/fd: %s", ename(errno));
		return;
	}
	char leaked[400] = "";
	size_t off = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		char p[64], target[256] = "?";
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(p, target, sizeof target - 1);
		if (n > 0)
			target[n] = 0;
		off += snprintf(leaked + off, off < sizeof leaked ? sizeof leaked - off : 0,
				"%d->%s ", fd, target);
		if (off >= sizeof leaked)
			off = sizeof leaked - 1;
	}
	closedir(d);
	if (leaked[0])
		report("inherited-fd", 1, "none", "descriptors above 2: %s", leaked);
	else
		report("inherited-fd", 0, "descriptors above 2 closed before exec (close_range CLOEXEC)",
		       "only 0, 1, 2 open");
}

/* cwd MARKER: the working directory must be inside the container and must
   not be the host directory holding MARKER. */
static void a_cwd(const char *name, const char *marker)
{
	char buf[4096];
	char *cwd = getcwd(buf, sizeof buf);
	int e = cwd ? 0 : errno;
	int sees = marker && access(marker, F_OK) == 0;
	if (!cwd || cwd[0] != '/' || sees)
		report(name, 1, "none", "cwd %s (%s)%s", cwd ? cwd : "unreachable", ename(e),
		       sees ? ", host marker visible" : "");
	else
		report(name, 0, "cwd inside the container", "cwd %s, host marker not visible", cwd);
}

/* ------------------------------------------------------ CVE-2019-5736 */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* F_SEAL_WRITE on the file behind an O_PATH descriptor (a memfd copy). */
static int sealed(int fd)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	int r = open(p, O_RDONLY | O_CLOEXEC);
	if (r < 0)
		return 0;
	int seals = fcntl(r, F_GET_SEALS);
	close(r);
	return seals >= 0 && (seals & F_SEAL_WRITE);
}

#define SEALED (-1)

/*
 * Try to make the O_PATH descriptor `fd` (some process's exe) writable and
 * write to it, as the CVE-2019-5736 exploits do (O_WRONLY|O_TRUNC). With
 * O_TRUNC the kernel checks the mount (EROFS) before the running binary
 * (ETXTBSY), so EROFS answers at once; ETXTBSY means a writable mount,
 * writable once every process running the binary is gone: wait for that
 * (while `wait_exit`, until `deadline`). Returns the errno that stopped it,
 * SEALED for a sealed memfd, 0 when it wrote.
 */
static int try_overwrite(int fd, int wait_exit, double deadline)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	for (;;) {
		int w = open(p, O_WRONLY | O_TRUNC);
		if (w >= 0) {
			ssize_t n = write(w, "#!ESCAPED\n", 10);
			int e = n < 0 ? errno : 0;
			close(w);
			return e;
		}
		int e = errno;
		if (e == EPERM && sealed(fd))
			return SEALED;
		if (e != ETXTBSY)
			return e;
		if (sealed(fd))
			return SEALED;
		if (!wait_exit || now() > deadline)
			return e;
		usleep(1000);
	}
}

static const char *exe_mount(int fd)
{
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return "mount flags unknown";
	return sv.f_flag & ST_RDONLY ? "on a read-only mount" : "on a writable mount";
}

static void exe_verdict(const char *name, int pid, int fd, int e)
{
	const char *where = exe_mount(fd);
	if (e == 0)
		report(name, 1, "none", "pid %d's exe (%s) reopened for writing and written", pid,
		       where);
	else if (e == EROFS)
		report(name, 0, "read-only view of the skiff binary (sealed_exe)",
		       "pid %d runs the skiff binary; its exe %s; open O_WRONLY|O_TRUNC: EROFS", pid,
		       where);
	else if (e == SEALED)
		report(name, 0, "sealed memfd copy of the skiff binary (sealed_exe)",
		       "pid %d runs the skiff binary; its exe is a sealed memfd", pid);
	else if (e == ETXTBSY)
		report(name, 1, "none",
		       "pid %d runs the skiff binary; its exe %s: ETXTBSY only while skiff runs", pid,
		       where);
	else
		report(name, 0, "?", "pid %d runs the skiff binary; its exe %s; open for writing: %s",
		       pid, where, ename(e));
}

static int same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/*
 * attack-exe SIZE SECONDS: wait for a process whose exe is SIZE bytes (the
 * skiff binary, entering through `skiff exec` and a `#!/proc/self/exe`
 * program), grab its exe, wait for it to exit, overwrite the binary.
 */
static void a_attack_exe(long size, int seconds)
{
	printf("ready\n");
	fflush(stdout);
	double deadline = now() + seconds;
	int self = getpid();
	while (now() < deadline) {
		/* the highest pid so far; the entering process gets one of the
		   next few, and lives a few milliseconds: poll them tightly */
		int top = self;
		DIR *d = opendir("/proc");
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (atoi(de->d_name) > top)
				top = atoi(de->d_name);
		if (d)
			closedir(d);
		for (int round = 0; round < 2000; round++) {
			for (int pid = 1; pid <= top + 8; pid++) {
				if (pid == self)
					continue;
				char p[64];
				snprintf(p, sizeof p, "/proc/%d/exe", pid);
				int fd = open(p, O_PATH | O_CLOEXEC);
				if (fd < 0)
					continue;
				struct stat st;
				if (fstat(fd, &st) == 0 && st.st_size == size &&
				    !same_file(fd, "/proc/self/exe")) {
					int e = try_overwrite(fd, 1, now() + 5);
					exe_verdict("cve-2019-5736-exec", pid, fd, e);
					close(fd);
					return;
				}
				close(fd);
			}
		}
	}
	report("cve-2019-5736-exec", 0, "?",
	       "no process running the skiff binary (%ld bytes) seen in %d s", size, seconds);
}

/* attack-pid1 SIZE: `run --init` keeps skiff's binary as PID 1 beside the
   program: try to write it through /proc/1/exe. */
static void a_attack_pid1(long size)
{
	/* first, as fast as possible: PID 1's environment is its starter's
	   (the host's); the init must be non-dumpable before the program runs */
	int env = open("/proc/1/environ", O_RDONLY | O_CLOEXEC);
	if (env >= 0) {
		char buf[4096];
		ssize_t n = read(env, buf, sizeof buf);
		close(env);
		if (n > 0) {
			report("init-environ", 1, "none",
			       "read %zd bytes of PID 1's (skiff's, the host's) environment", n);
			return;
		}
	}
	int fd = open("/proc/1/exe", O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		report("cve-2019-5736-init", e != EACCES && e != EPERM,
		       "PID 1 not dumpable: its exe cannot be opened", "open(/proc/1/exe): %s",
		       ename(e));
		return;
	}
	struct stat st;
	fstat(fd, &st);
	if (st.st_size != size) {
		report("cve-2019-5736-init", 0, "PID 1 is not the skiff binary",
		       "/proc/1/exe is %lld bytes, skiff %ld", (long long)st.st_size, size);
		close(fd);
		return;
	}
	int e = try_overwrite(fd, 0, 0);
	exe_verdict("cve-2019-5736-init", 1, fd, e);
	close(fd);
}

/* ------------------------------------------------------------------ main */

struct attempt {
	const char *name;
	void (*fn)(void);
};

static const struct attempt ATTEMPTS[] = {
	{ "mount", a_mount },
	{ "mount-new-api", a_mount_newapi },
	{ "umount", a_umount },
	{ "unshare-user", a_unshare_user },
	{ "unshare-mnt", a_unshare_mnt },
	{ "unshare-net", a_unshare_net },
	{ "clone-newuser", a_clone_newuser },
	{ "setns", a_setns },
	{ "keyctl", a_keyctl },
	{ "add-key", a_add_key },
	{ "reboot", a_reboot },
	{ "kexec-load", a_kexec_load },
	{ "init-module", a_init_module },
	{ "bpf", a_bpf },
	{ "perf-event-open", a_perf_event_open },
	{ "io-uring-setup", a_io_uring_setup },
	{ "personality", a_personality },
	{ "kcmp", a_kcmp },
	{ "sethostname", a_sethostname },
	{ "link-dummy", a_link_dummy },
	{ "link-veth", a_link_veth },
	{ "mknod-block", a_mknod_block },
	{ "write-sysrq-trigger", a_sysrq },
	{ "write-proc-sys-hostname", a_proc_sys_hostname },
	{ "write-proc-sys-drop-caches", a_drop_caches },
	{ "write-core-pattern", a_core_pattern },
	{ "write-sys", a_sys_write },
	{ "write-cgroupfs", a_cgroup_release_agent },
	{ "read-kcore", a_kcore },
	{ "read-proc-keys", a_keys },
	{ "read-sys-firmware", a_sys_firmware },
	{ "inherited-fd", a_fds },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: probe list|all|NAME [ARGS]\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "list")) {
		for (const struct attempt *a = ATTEMPTS; a->name; a++)
			printf("%s\n", a->name);
		return 0;
	}
	if (!strcmp(cmd, "all")) {
		for (const struct attempt *a = ATTEMPTS; a->name; a++)
			a->fn();
		return escaped_any;
	}
	if (!strcmp(cmd, "cwd")) {
		a_cwd(argc > 2 ? argv[2] : "workdir", argc > 3 ? argv[3] : NULL);
		return escaped_any;
	}
	if (!strcmp(cmd, "attack-exe") && argc > 2) {
		a_attack_exe(atol(argv[2]), argc > 3 ? atoi(argv[3]) : 30);
		return escaped_any;
	}
	if (!strcmp(cmd, "attack-pid1") && argc > 2) {
		a_attack_pid1(atol(argv[2]));
		return escaped_any;
	}
	for (const struct attempt *a = ATTEMPTS; a->name; a++) {
		if (!strcmp(cmd, a->name)) {
			a->fn();
			return escaped_any;
		}
	}
	fprintf(stderr, "probe: unknown attempt %s\n", cmd);
	return 2;
}
