"""A one-function package, built into a wheel by python/build-wheel."""


def greet():
    return "hello from a wheel"
