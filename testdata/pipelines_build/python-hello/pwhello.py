"""A one-function module, installed by python/install and imported by python/import."""


def greet():
    return "hello from python"
