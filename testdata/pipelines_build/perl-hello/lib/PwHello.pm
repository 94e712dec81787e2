package PwHello;
# A one-function module, built with perl/make and autoconf/make.
use strict;
use warnings;

our $VERSION = '1.0.0';

sub greet { return "hello from perl" }

1;
