#include <stdio.h>

int main(void) {
    printf("hello from a melwrap-built package\n");
    return 0;
}
