/* options_doc.c — prints the option and mode tables in Markdown, straight
 * from HAK_OPTIONS, for the README (tests/readme_test.sh checks the README
 * holds exactly this text). Usage: bazel run //hakmem:options_doc
 */
#include <stdio.h>

#include "hakmem/options.h"

int main(void) {
  static char buf[16384];
  size_t n = hak_options_markdown(buf, sizeof buf);
  if (n >= sizeof buf) {
    fprintf(stderr, "options_doc: table larger than %zu bytes\n", sizeof buf);
    return 1;
  }
  fputs(buf, stdout);
  return 0;
}
