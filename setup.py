from setuptools import find_packages, setup

requires = [
    "pyramid>=2.0",
    "pyramid_tm>=2.5",
    "PasteDeploy>=3.0",
    "waitress>=3.0",
    "SQLAlchemy>=2.0",
    "zope.sqlalchemy>=3.0",
    "transaction>=4.0",
    "colander>=2.0",
    "alembic>=1.13",
    "PyJWT>=2.8",
    "argon2-cffi>=23.1",
    "psycopg[binary]>=3.1",
    "multipart>=1.2",
    "requests>=2.31",
    "tqdm>=4.66",
    "boto3>=1.34",
    "prometheus-client>=0.20",
    "pyramid_jinja2>=2.10",
]

tests_require = [
    "WebTest>=3.0",
    "pytest>=8.0",
    "ruff>=0.6",
    "openapi-spec-validator>=0.7",
    "schemathesis>=4.0",
    "moto[server]>=5.0",
    "playwright>=1.40",
    "tuspy>=1.1",
]

setup(
    name="modelhub",
    version="0.1.0",
    description="A self-hosted registry of pretrained deep-learning models (UFDL API)",
    python_requires=">=3.11",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={
        "adapters.sqlalchemy": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
        "domain.catalogue": ["*.json"],
        "entrypoints.web.pages": ["templates/*.jinja2", "static/*"],
    },
    zip_safe=False,
    install_requires=requires,
    extras_require={"test": tests_require},
    entry_points={
        "paste.app_factory": ["main = entrypoints.web:main"],
        "paste.server_runner": ["waitress = entrypoints.web.server:serve_paste"],
        "console_scripts": [
            "modelhub = entrypoints.cli.main:main",
            "modelhub-initdb = entrypoints.cli.initdb:main",
            "modelhub-create-user = entrypoints.cli.create_user:main",
        ],
    },
)
