/*
 * Starting a program without copying the daemon: node's spawn forks, and the fork copies the page tables of
 * the whole process while it holds the address space's lock. That costs in proportion to the daemon's
 * memory (a 512 MiB heap stalled the calling thread 895 ms under load), and every other thread that takes a
 * page fault meanwhile waits (the VRRP thread's adverts went late, docs/vrrp-runner.md). Here the child is
 * a clone sharing the parent's memory (CLONE_VM | CLONE_VFORK, as glibc's posix_spawn does): nothing is
 * copied, the calling thread waits only until the child has called execve.
 *
 * The child runs on its own small stack and makes only system calls: signal dispositions back to default
 * (the parent's handlers are node's), a new session (setsid: the check's process group is killed as one),
 * stdin from /dev/null or, when asked, a pipe the caller writes (nft reads its rules there), stdout and
 * stderr into two pipes, the working directory, then the user (groups
 * cleared, gid, uid: raw system calls, since glibc's set*id would signal the parent's threads, whose list
 * the child shares), the signal mask cleared, and execve. An execve that fails reports its errno through
 * the shared memory and the child exits 127; the parent reaps it and throws that errno.
 *
 * The exit is watched with a pidfd on the event loop (uv_poll, readable once the child has exited) and
 * reaped with waitid(P_PIDFD): libuv reaps only the pids it started itself, so no one else takes it.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILD_STACK (64 * 1024)
#define BAD_HANDLE "expected a child handle"

typedef struct child_args {
  const char *path;
  char **argv;
  char **envp;
  const char *cwd;
  int new_session;
  long uid; /* -1: keep */
  long gid; /* -1: keep */
  int in_r; /* -1: stdin from /dev/null */
  int out_w, err_w;
  volatile int err; /* set by the child when it fails before or at execve */
} child_args;

static int child_main(void *p) {
  child_args *a = p;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL); /* glibc's own signals refuse: harmless */
  }
  int fd;
  if (a->new_session && setsid() < 0) goto fail;
  fd = a->in_r >= 0 ? a->in_r : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || dup2(fd, 0) < 0 || dup2(a->out_w, 1) < 0 || dup2(a->err_w, 2) < 0) goto fail;
  /* dup2 onto itself (a daemon whose fd 0, 1 or 2 was closed got one of these there) keeps close-on-exec */
  for (int i = 0; i < 3; i++) fcntl(i, F_SETFD, 0);
  if (a->cwd != NULL && chdir(a->cwd) < 0) goto fail;
  if (a->gid >= 0 || a->uid >= 0) syscall(SYS_setgroups, 0, NULL); /* as libuv: best effort (needs CAP_SETGID) */
  if (a->gid >= 0 && syscall(SYS_setresgid, a->gid, a->gid, a->gid) < 0) goto fail;
  if (a->uid >= 0 && syscall(SYS_setresuid, a->uid, a->uid, a->uid) < 0) goto fail;
  sigset_t none;
  sigemptyset(&none);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, NSIG / 8);
  execve(a->path, a->argv, a->envp);
fail:
  a->err = errno != 0 ? errno : EINVAL;
  _exit(127);
}

/* A JS string as a malloc'ed C string (NULL after throwing). */
static char *dup_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    lvsd_throw_type(env, "expected a string");
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    lvsd_throw_errno(env, "malloc", ENOMEM, NULL);
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) { /* an embedded NUL would cut the argument short in silence */
    free(s);
    lvsd_throw_type(env, "a string with a NUL byte cannot be passed to a program");
    return NULL;
  }
  return s;
}

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

/* A JS array of strings as a NULL-terminated malloc'ed list (NULL after throwing). */
static char **dup_strings(napi_env env, napi_value v) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &n) != napi_ok) {
    lvsd_throw_type(env, "expected an array of strings");
    return NULL;
  }
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (list == NULL) {
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, v, i, &item);
    list[i] = dup_string(env, item);
    if (list[i] == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static bool arg_id(napi_env env, napi_value v, long *out) {
  int64_t n;
  if (napi_get_value_int64(env, v, &n) != napi_ok || n < -1 || n > 0xfffffffeLL) {
    lvsd_throw_type(env, "uid and gid must be -1 or 0..4294967294");
    return false;
  }
  *out = (long)n;
  return true;
}

static void on_exit_readable(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  lvsd_polled *w = handle->data; /* util.h's polled plumbing, here on the child's pidfd */
  siginfo_t info;
  memset(&info, 0, sizeof info);
  int rc;
  do rc = waitid(P_PIDFD, (id_t)w->fd, &info, WEXITED | WNOHANG);
  while (rc < 0 && errno == EINTR);
  if (rc == 0 && info.si_pid == 0) return; /* not yet */
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  if (rc < 0) {
    napi_get_null(env, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else if (info.si_code == CLD_EXITED) {
    napi_create_int32(env, info.si_status, &argv[0]);
    napi_get_null(env, &argv[1]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, info.si_status, &argv[1]);
  }
  lvsd_polled_call(w, 2, argv);
  lvsd_polled_close(w); /* reaped (or unreapable): the pidfd is of no more use */
  napi_close_handle_scope(env, scope);
}

/*
 * spawnChild(path, argv: string[], envp: string[], cwd: string | null, newSession: boolean, uid: number,
 *            gid: number, onExit: (code: number | null, signal: number | null) => void, stdinPipe?: boolean)
 *   -> { pid, stdout: fd, stderr: fd, stdin: fd | -1, handle }
 * `path` is run as it is (no PATH search). uid/gid -1: the daemon's. Throws the errno of a failed start
 * (syscall "spawn": the execve's, or the clone's). stdout/stderr are the read ends of the child's pipes,
 * non-blocking, close-on-exec, the caller's to close; with stdinPipe, stdin is the write end of the
 * child's stdin (likewise; else -1 and the child reads /dev/null). A write to it after the child has gone
 * fails with EPIPE: node ignores SIGPIPE, so that is an error on the stream, never a signal. `handle` must be kept until onExit (its loss stops the
 * watch, and the child is then never reaped).
 */
napi_value lvsd_spawn_child(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) {
    lvsd_throw_type(env, "spawnChild(path, argv, envp, cwd, newSession, uid, gid, onExit)");
    return NULL;
  }
  child_args a;
  memset(&a, 0, sizeof a);
  a.in_r = a.out_w = a.err_w = -1;
  napi_valuetype cwd_type;
  napi_typeof(env, argv[3], &cwd_type);
  bool new_session = false, stdin_pipe = false;
  napi_value result = NULL;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  char *path = dup_string(env, argv[0]);
  char **args = path ? dup_strings(env, argv[1]) : NULL;
  char **envp = args ? dup_strings(env, argv[2]) : NULL;
  char *cwd = envp && cwd_type == napi_string ? dup_string(env, argv[3]) : NULL;
  if (envp == NULL || (cwd_type == napi_string && cwd == NULL) || !lvsd_arg_bool(env, argv[4], &new_session) ||
      !arg_id(env, argv[5], &a.uid) || !arg_id(env, argv[6], &a.gid))
    goto done;
  if (argc >= 9) {
    napi_valuetype t;
    napi_typeof(env, argv[8], &t);
    if (t != napi_undefined && !lvsd_arg_bool(env, argv[8], &stdin_pipe)) goto done;
  }
  if (pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0 ||
      (stdin_pipe && pipe2(in, O_CLOEXEC | O_NONBLOCK) < 0)) {
    lvsd_throw_errno(env, "pipe2", errno, NULL);
    goto close_pipes;
  }
  /* the child's end blocks, as a program expects of its stdin */
  if (stdin_pipe) fcntl(in[0], F_SETFL, 0);
  a.in_r = in[0];
  /* the child's ends block, as a program expects of its stdout */
  fcntl(out[1], F_SETFL, 0);
  fcntl(err[1], F_SETFL, 0);
  a.path = path;
  a.argv = args;
  a.envp = envp;
  a.cwd = cwd;
  a.new_session = new_session;
  a.out_w = out[1];
  a.err_w = err[1];
  void *stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    lvsd_throw_errno(env, "mmap", errno, "child stack");
    goto close_pipes;
  }
  /* no signal handler of node may run on the child's stack before it has set them to default */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone(child_main, (char *)stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(stack, CHILD_STACK);
  if (pid < 0) {
    lvsd_throw_errno(env, "spawn", clone_errno, "clone");
    goto close_pipes;
  }
  if (a.err != 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    lvsd_throw_errno(env, "spawn", a.err, path);
    goto close_pipes;
  }
  close(out[1]);
  close(err[1]);
  out[1] = err[1] = -1;
  if (in[0] >= 0) close(in[0]);
  in[0] = -1;
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    /* cannot be watched: it is killed and reaped here rather than left a zombie nobody waits for */
    int e = errno, status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    lvsd_throw_errno(env, "pidfd_open", e, NULL);
    goto close_pipes;
  }
  napi_value handle = lvsd_polled_start(env, calloc(1, sizeof(lvsd_polled)), pidfd, argv[7], "lvsd.child", on_exit_readable, true);
  if (handle == NULL) {
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    goto close_pipes;
  }
  napi_value v;
  napi_create_object(env, &result);
  napi_create_int32(env, pid, &v);
  napi_set_named_property(env, result, "pid", v);
  napi_create_int32(env, out[0], &v);
  napi_set_named_property(env, result, "stdout", v);
  napi_create_int32(env, err[0], &v);
  napi_set_named_property(env, result, "stderr", v);
  napi_create_int32(env, in[1], &v);
  napi_set_named_property(env, result, "stdin", v);
  napi_set_named_property(env, result, "handle", handle);
  goto done;
close_pipes:
  for (int i = 0; i < 2; i++) {
    if (in[i] >= 0) close(in[i]);
    if (out[i] >= 0) close(out[i]);
    if (err[i] >= 0) close(err[i]);
  }
done:
  free(path);
  free_strings(args);
  free_strings(envp);
  free(cwd);
  return result;
}

/* childRef(handle, ref: boolean): whether a child not yet exited keeps the event loop alive (it is reaped either way while the loop runs). */
napi_value lvsd_child_ref(napi_env env, napi_callback_info info) {
  return lvsd_polled_ref_call(env, info, BAD_HANDLE);
}
