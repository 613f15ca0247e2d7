/* cmd_launch.c — runs one user command (--cmd) for the comparison runner and
 * reports what it cost: wall time, peak RSS and page faults.
 *
 * Usage: cmd_launch RESULT_FILE COMMAND
 *   Forks, runs /bin/sh -c COMMAND in the child with LD_PRELOAD set to
 *   $HAK_COMPARE_PRELOAD (when set; the launcher itself runs without the
 *   allocator), waits for it and writes one JSON object to RESULT_FILE:
 *   {"wall_ns":N,"maxrss_kb":N,"minflt":N,"majflt":N,"exit_code":N|null,"signal":N}
 *   Exits 0 when it could run and measure the command (whatever the command's
 *   own status), 125 when it could not.
 *
 * Why a launcher: the runner is a Python process, and ru_maxrss of its
 * direct child counts the Python image from before exec (~20 MB), so a small
 * command's peak RSS would read as the interpreter's. A child forked from
 * this small program starts from its ~1 MB. wait4's rusage covers the
 * command and every descendant it waited for; ru_maxrss is the largest of
 * those processes, not their sum.
 *
 * Called by: compare/execution.py (run_command). Plain C11 + POSIX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cmd_launch RESULT_FILE COMMAND\n");
    return 125;
  }
  const char *preload = getenv("HAK_COMPARE_PRELOAD");
  unsigned long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "cmd_launch: fork: %s\n", strerror(errno));
    return 125;
  }
  if (pid == 0) {
    if (preload && *preload) setenv("LD_PRELOAD", preload, 1);
    unsetenv("HAK_COMPARE_PRELOAD");
    execl("/bin/sh", "sh", "-c", argv[2], (char *)NULL);
    fprintf(stderr, "cmd_launch: exec /bin/sh: %s\n", strerror(errno));
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "cmd_launch: wait4: %s\n", strerror(errno));
      return 125;
    }
  }
  unsigned long long t1 = now_ns();
  FILE *f = fopen(argv[1], "w");
  if (!f) {
    fprintf(stderr, "cmd_launch: %s: %s\n", argv[1], strerror(errno));
    return 125;
  }
  fprintf(f, "{\"wall_ns\":%llu,\"maxrss_kb\":%ld,\"minflt\":%ld,\"majflt\":%ld,", t1 - t0, ru.ru_maxrss,
          ru.ru_minflt, ru.ru_majflt);
  if (WIFEXITED(status))
    fprintf(f, "\"exit_code\":%d,\"signal\":0}\n", WEXITSTATUS(status));
  else
    fprintf(f, "\"exit_code\":null,\"signal\":%d}\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return fclose(f) == 0 ? 0 : 125;
}
