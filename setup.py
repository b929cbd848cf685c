"""Installs `mod` (exported from nbs/) and `prcvd` (hand-written) from libraries/.

Every dependency is declared once, in settings.ini; this file only reads it.
"""
from configparser import ConfigParser
from setuptools import find_packages, setup

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini")
cfg = cfg["DEFAULT"]

setup(
    name="face-portrait-mod",  # the PyPI name `mod` is someone else's: install this by path only
    version=cfg["version"],
    description=cfg["description"],
    python_requires=f">={cfg['min_python']}",
    package_dir={"": "libraries"},
    packages=find_packages("libraries"),
    package_data={"mod.server": ["static/*"]},  # the page's HTML, CSS and JavaScript (mod.server.page)
    install_requires=cfg["requirements"].split(),
    extras_require={"tools": cfg["tool_requirements"].split(), "dev": cfg["dev_requirements"].split()},
    entry_points={"console_scripts": cfg["console_scripts"].split()},
    zip_safe=False,
)
