/* hakmem — run any program with libhakmem.so preloaded (the launcher).
 *
 *   hakmem [--mode M] [--check] [--stats] [--profile FILE]
 *          [--option NAME=VALUE]... [--] PROG [ARGS...]
 *
 * Every flag becomes the HAKMEM_* variable of the same meaning; values are
 * checked against hakmem's own option table (options.h, linked from
 * //hakmem:base), so a bad name or value is refused here with exit status 2
 * and the program is never started. The launcher then execs PROG: no
 * process stays in between, so PROG's exit status and signals are the
 * launcher's own.
 *
 * libhakmem.so is found relative to the launcher itself: PREFIX/lib beside an
 * installed PREFIX/bin/hakmem, or the Bazel runfiles / bazel-bin layout when
 * started by `bazel run //:hakmem`, which also moves back to the directory
 * bazel was started from (BUILD_WORKING_DIRECTORY) before running PROG.
 *
 * This binary uses glibc's malloc; it links only the option table.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hakmem/options.h"

#ifndef HAKMEM_VERSION
#define HAKMEM_VERSION "unknown"
#endif
#ifndef HAKMEM_SOVERSION
#define HAKMEM_SOVERSION "0"
#endif

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: hakmem [--mode M] [--check] [--stats] [--profile FILE] [--option NAME=VALUE]... [--] PROG [ARGS...]\n";

static const char *const mode_list = "MINIMAL, FAST, BALANCED, LEARNING, RESEARCH";

static __attribute__((noreturn, format(printf, 1, 2))) void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("hakmem: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n", stderr);
  fputs(usage_text, stderr);
  fputs("Try 'hakmem --help' for the options.\n", stderr);
  exit(EXIT_USAGE);
}

// --- the option table -------------------------------------------------------------

// "what values it takes", from the table: "a size from 32K to 512K".
static void describe_range(int id, char *buf, size_t cap) {
  const hak_option_info_t *o = &hak_option_info[id];
  char lo[32], hi[32];
  switch (o->type) {
    case HAK_OPT_BOOL: snprintf(buf, cap, "0 or 1"); return;
    case HAK_OPT_STRING: snprintf(buf, cap, "text of up to %llu bytes", (unsigned long long)o->max); return;
    case HAK_OPT_ENUM: {
      size_t n = (size_t)snprintf(buf, cap, "one of ");
      for (unsigned k = 0; o->names[k] && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", k ? ", " : "", o->names[k]);
      return;
    }
    case HAK_OPT_UINT:
    case HAK_OPT_SIZE:
      hak_option_format((hak_opt_id_t)id, o->min, lo, sizeof lo);
      hak_option_format((hak_opt_id_t)id, o->max, hi, sizeof hi);
      snprintf(buf, cap, "%s from %s to %s%s", o->type == HAK_OPT_SIZE ? "a size" : "an integer", lo, hi,
               o->type == HAK_OPT_SIZE ? " (suffixes K, M, G, T)" : "");
      return;
  }
}

static void default_text(int id, char *buf, size_t cap) {
  if (hak_option_info[id].type == HAK_OPT_STRING) snprintf(buf, cap, "(none)");
  else hak_option_format((hak_opt_id_t)id, hak_option_info[id].def, buf, cap);
}

// Index in hak_option_info of NAME (with or without HAKMEM_, any case); -1
// for MODE; -2 when unknown. The canonical name goes to canon.
static int find_option(const char *name, size_t len, char *canon, size_t cap) {
  if (len >= 7 && strncasecmp(name, "HAKMEM_", 7) == 0) {
    name += 7;
    len -= 7;
  }
  if (len == 4 && strncasecmp(name, "MODE", 4) == 0) {
    snprintf(canon, cap, "MODE");
    return -1;
  }
  for (int i = 0; i < HAK_OPT_COUNT; i++) {
    const char *n = hak_option_info[i].name;
    if (strlen(n) == len && strncasecmp(n, name, len) == 0) {
      snprintf(canon, cap, "%s", n);
      return i;
    }
  }
  snprintf(canon, cap, "%.*s", (int)len, name);
  return -2;
}

// Refuses (exit 2) a bad name or value; otherwise sets HAKMEM_<NAME>.
static void set_option(const char *name, size_t len, const char *value, const char *flag) {
  char canon[64], var[80];
  int id = find_option(name, len, canon, sizeof canon);
  if (id == -2) usage_error("%s: unknown option %s (hakmem --help lists them)", flag, canon);
  if (id == -1) {
    hak_mode_t m;
    if (!hak_mode_parse(value, &m)) usage_error("%s: bad mode '%s': one of %s", flag, value, mode_list);
    value = hak_mode_name(m);
  } else {
    // The library's own parser decides: the same rules as the variable.
    size_t n = strlen(canon) + strlen(value) + 16;
    char *env = malloc(n);
    if (!env) usage_error("out of memory");
    snprintf(env, n, "HAKMEM_%s=%s", canon, value);
    const char *envp[] = {env, NULL};
    hak_options_t parsed;
    hak_options_parse(envp, false, &parsed);
    free(env);
    if (parsed.warnings) {
      char range[256];
      describe_range(id, range, sizeof range);
      usage_error("%s: bad value '%s' for %s: %s", flag, value, canon, range);
    }
  }
  snprintf(var, sizeof var, "HAKMEM_%s", canon);
  if (setenv(var, value, 1) != 0) usage_error("cannot set %s: %s", var, strerror(errno));
}

static void set_option_text(const char *assignment, const char *flag) {
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment) usage_error("%s wants NAME=VALUE, not '%s'", flag, assignment);
  set_option(assignment, (size_t)(eq - assignment), eq + 1, flag);
}

// --- help, man page ---------------------------------------------------------------

static void print_help(void) {
  printf("%s", usage_text);
  printf(
      "\nRun PROG with hakmem, the call-site-aware allocator, in place of malloc\n"
      "(LD_PRELOAD of libhakmem.so). PROG's exit status and signals pass through.\n\n"
      "  --mode M             HAKMEM_MODE: %s (default BALANCED)\n"
      "  --check              HAKMEM_CHECK=1: catch double/invalid frees and overflows (slower)\n"
      "  --stats              HAKMEM_VERBOSE=1: print hakmem's report on stderr at exit\n"
      "  --profile FILE       HAKMEM_PROFILE=FILE: write a heap profile at exit; read it with\n"
      "                       google-pprof --text PROG FILE (or --svg for the call graph)\n"
      "  --option NAME=VALUE  HAKMEM_NAME=VALUE, any option below (NAME in any case, with or\n"
      "                       without HAKMEM_); later flags win over earlier ones\n"
      "  --help, --version\n\n"
      "A bad mode, option name or value exits with status 2 before PROG starts; a PROG\n"
      "that cannot be run exits with 127 (126: not executable).\n\n"
      "Options (NAME, default, values: meaning):\n",
      mode_list);
  for (int i = 0; i < HAK_OPT_COUNT; i++) {
    char def[64], range[256];
    default_text(i, def, sizeof def);
    describe_range(i, range, sizeof range);
    printf("  %-22s %s; %s\n  %-22s   %s\n", hak_option_info[i].name, def, range, "", hak_option_info[i].meaning);
  }
}

// roff text: backslashes and leading dots/quotes escaped.
static void man_text(const char *s) {
  if (*s == '.' || *s == '\'') fputs("\\&", stdout);
  for (; *s; s++) {
    if (*s == '\\') fputs("\\e", stdout);
    else if (*s == '-') fputs("\\-", stdout);
    else putchar(*s);
  }
}

// The man page: the same text as --help, built into share/man/man1/hakmem.1.
static void print_man(void) {
  printf(".TH HAKMEM 1 \"\" \"hakmem %s\" \"User Commands\"\n", HAKMEM_VERSION);
  printf(".SH NAME\nhakmem \\- run a program with the hakmem allocator\n");
  printf(".SH SYNOPSIS\n.B hakmem\n[\\fB\\-\\-mode\\fR \\fIM\\fR] [\\fB\\-\\-check\\fR] [\\fB\\-\\-stats\\fR] "
         "[\\fB\\-\\-profile\\fR \\fIFILE\\fR] [\\fB\\-\\-option\\fR \\fINAME\\fR=\\fIVALUE\\fR]... "
         "[\\fB\\-\\-\\fR] \\fIPROG\\fR [\\fIARGS\\fR...]\n");
  printf(".SH DESCRIPTION\nRuns \\fIPROG\\fR with libhakmem.so preloaded, found in the lib directory beside "
         "the launcher's bin directory. Each flag sets the HAKMEM_* environment variable of the same meaning; "
         "names and values are checked against the library's option table first. The launcher replaces "
         "itself with \\fIPROG\\fR, so its exit status and signals are the program's.\n");
  printf(".SH OPTIONS\n");
  printf(".TP\n\\fB\\-\\-mode\\fR \\fIM\\fR\nHAKMEM_MODE: ");
  man_text(mode_list);
  printf(" (default BALANCED).\n");
  printf(".TP\n\\fB\\-\\-check\\fR\nHAKMEM_CHECK=1: double and invalid frees, overflows and free\\-list "
         "corruption abort with a message (slower).\n");
  printf(".TP\n\\fB\\-\\-stats\\fR\nHAKMEM_VERBOSE=1: hakmem's report on standard error at exit.\n");
  printf(".TP\n\\fB\\-\\-profile\\fR \\fIFILE\\fR\nHAKMEM_PROFILE=\\fIFILE\\fR: a sampled heap profile per "
         "call site, written at exit, in the format google\\-pprof reads: "
         "\\fBgoogle\\-pprof \\-\\-text\\fR \\fIPROG FILE\\fR.\n");
  printf(".TP\n\\fB\\-\\-option\\fR \\fINAME\\fR=\\fIVALUE\\fR\nHAKMEM_\\fINAME\\fR=\\fIVALUE\\fR, for any "
         "option below.\n");
  printf(".TP\n\\fB\\-\\-help\\fR, \\fB\\-\\-version\\fR\nUsage and the option list; the version.\n");
  printf(".SH ENVIRONMENT\nEvery option is also an environment variable HAKMEM_\\fINAME\\fR:\n");
  for (int i = 0; i < HAK_OPT_COUNT; i++) {
    char def[64], range[256];
    default_text(i, def, sizeof def);
    describe_range(i, range, sizeof range);
    printf(".TP\n.B HAKMEM_");
    man_text(hak_option_info[i].name);
    printf("\n");
    man_text(hak_option_info[i].meaning);
    printf(". Default ");
    man_text(def);
    printf("; ");
    man_text(range);
    printf(".\n");
  }
  printf(".SH EXIT STATUS\nThe program's own; 2 for a bad flag, mode, option name or value (the program "
         "is not started); 127 when \\fIPROG\\fR is not found, 126 when it cannot be executed.\n");
  printf(".SH FILES\n\\fIPREFIX\\fR/lib/libhakmem.so.%s, \\fIPREFIX\\fR/include/hakmem.h, "
         "\\fIPREFIX\\fR/lib/pkgconfig/hakmem.pc, \\fIPREFIX\\fR/share/hakmem/manifest "
         "(what was installed).\n",
         HAKMEM_SOVERSION);
  printf(".SH SEE ALSO\n\\fBgoogle\\-pprof\\fR(1), \\fBld.so\\fR(8)\n");
}

// --- finding libhakmem.so ---------------------------------------------------------

static bool readable(const char *path) { return access(path, R_OK) == 0; }

// The library's absolute path into lib; *from_bazel when found in Bazel's layout.
static bool find_library(char *lib, size_t cap, bool *from_bazel) {
  char exe[PATH_MAX], path[PATH_MAX + 64];
  if (!realpath("/proc/self/exe", exe)) return false;
  const char *name = strrchr(exe, '/');
  if (!name) return false;
  int dir_len = (int)(name - exe);
  const char *tries[] = {
      ("%.*s/../lib/libhakmem.so." HAKMEM_SOVERSION),  // PREFIX/bin/hakmem
      "%s.runfiles/hakmem/hakmem/libhakmem.so",          // bazel run: the runfiles tree
      "%.*s/../hakmem/libhakmem.so",                     // bazel-bin/tools/hakmem
  };
  for (unsigned t = 0; t < sizeof tries / sizeof tries[0]; t++) {
    if (t == 1) snprintf(path, sizeof path, tries[t], exe);
    else snprintf(path, sizeof path, tries[t], dir_len, exe);
    if (readable(path) && realpath(path, lib) && strlen(lib) < cap) {
      *from_bazel = t > 0;
      return true;
    }
  }
  return false;
}

// --- main -------------------------------------------------------------------------

// The value of a flag given as "--flag VALUE" or "--flag=VALUE".
static const char *flag_value(int argc, char **argv, int *i, const char *flag) {
  size_t n = strlen(flag);
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (*i + 1 >= argc || strcmp(argv[*i + 1], "--") == 0) usage_error("%s needs a value", flag);
  return argv[++*i];
}

static bool is_flag(const char *arg, const char *flag) {
  size_t n = strlen(flag);
  return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-') break;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_help();
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("hakmem %s\n", HAKMEM_VERSION);
      return 0;
    } else if (strcmp(a, "--man") == 0) {  // for the build: share/man/man1/hakmem.1
      print_man();
      return 0;
    } else if (strcmp(a, "--check") == 0) {
      set_option("CHECK", 5, "1", a);
    } else if (strcmp(a, "--stats") == 0) {
      set_option("VERBOSE", 7, "1", a);
    } else if (is_flag(a, "--mode")) {
      set_option("MODE", 4, flag_value(argc, argv, &i, "--mode"), "--mode");
    } else if (is_flag(a, "--option")) {
      set_option_text(flag_value(argc, argv, &i, "--option"), "--option");
    } else if (is_flag(a, "--profile")) {
      const char *file = flag_value(argc, argv, &i, "--profile");
      if (!*file) usage_error("--profile needs a file name");
      // Absolute, so the program may change directory before it exits.
      char abs[PATH_MAX * 2];
      if (file[0] == '/') snprintf(abs, sizeof abs, "%s", file);
      else {
        char cwd[PATH_MAX];
        const char *base = getenv("BUILD_WORKING_DIRECTORY");
        if (!base) base = getcwd(cwd, sizeof cwd);
        if (!base) usage_error("cannot read the current directory: %s", strerror(errno));
        snprintf(abs, sizeof abs, "%s/%s", base, file);
      }
      set_option("PROFILE", 7, abs, "--profile");
    } else {
      usage_error("unknown flag %s", a);
    }
  }
  if (i >= argc) usage_error("no program to run");

  char lib[PATH_MAX];
  bool from_bazel;
  if (!find_library(lib, sizeof lib, &from_bazel)) {
    fprintf(stderr, "hakmem: cannot find libhakmem.so.%s in the lib directory beside this launcher\n",
            HAKMEM_SOVERSION);
    return EXIT_USAGE;
  }
  // bazel run starts us in the runfiles tree: PROG's paths are the user's.
  const char *wd = getenv("BUILD_WORKING_DIRECTORY");
  if (from_bazel && wd && chdir(wd) != 0) {
    fprintf(stderr, "hakmem: cannot change to %s: %s\n", wd, strerror(errno));
    return EXIT_USAGE;
  }
  // hakmem first, then whatever the caller preloads already.
  const char *old = getenv("LD_PRELOAD");
  size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
  char *preload = malloc(n);
  if (!preload) return EXIT_USAGE;
  snprintf(preload, n, "%s%s%s", lib, old && *old ? " " : "", old && *old ? old : "");
  setenv("LD_PRELOAD", preload, 1);

  execvp(argv[i], argv + i);
  int err = errno;
  fprintf(stderr, "hakmem: cannot run %s: %s\n", argv[i], strerror(err));
  return err == ENOENT ? 127 : 126;
}
