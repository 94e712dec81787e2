from setuptools import setup

setup(name="pwhello", version="1.0.0", py_modules=["pwhello"])
