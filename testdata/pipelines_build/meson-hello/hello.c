#include <stdio.h>

/* GREETING comes from the build system, set through the configure pipeline's opts input. */
#ifndef GREETING
#define GREETING "no greeting configured"
#endif

int main(void) {
    puts(GREETING);
    return 0;
}
