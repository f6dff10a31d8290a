"""The apps' dependency order (README, "Architecture") is enforced by `lint-imports` with the contracts
in `.importlinter`: the project keeps them, and each kind of wrong-way import planted in a copy of
the project breaks the build."""

import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = PROJECT_ROOT / ".venv" / "bin" / "lint-imports"
APPS = (
    "billing",
    "organizations",
    "webhooks",
    "customers",
    "plans",
    "events",
    "coupons",
    "wallets",
    "invoicing",
    "analytics",
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The Python sources and the contracts, nothing else: grimp reads imports without running them."""
    for app in APPS:
        shutil.copytree(PROJECT_ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(PROJECT_ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def plant(root: Path, module: str, code: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + "\n\n" + code + "\n")


def test_the_project_keeps_its_contracts(project_copy):
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_lower_apps_service_importing_a_higher_app_breaks_the_order(project_copy):
    plant(project_copy, "customers.services", "from invoicing.services import bill_subscription  # noqa")
    result = lint_imports(project_copy)
    assert result.returncode == 1
    assert "customers is not allowed to import invoicing" in result.stdout
    assert "customers.services -> invoicing.services" in result.stdout


def test_an_import_hidden_in_a_function_is_seen_all_the_same(project_copy):
    plant(
        project_copy,
        "plans.services",
        "def _late():\n    from invoicing.subscriptions import terminate_subscription  # noqa\n",
    )
    result = lint_imports(project_copy)
    assert result.returncode == 1
    assert "plans is not allowed to import invoicing" in result.stdout


def test_a_service_importing_its_own_views_is_refused(project_copy):
    plant(project_copy, "plans.services", "import plans.views  # noqa")
    result = lint_imports(project_copy)
    assert result.returncode == 1
    assert "the domain never imports the edges" in result.stdout
    assert "plans.services -> plans.views" in result.stdout


def test_a_cycle_between_two_modules_of_an_app_is_refused(project_copy):
    plant(project_copy, "invoicing.credit_notes", "from invoicing.services import finalize_invoice  # noqa")
    result = lint_imports(project_copy)
    assert result.returncode == 1
    assert "No cycle between the modules of an app BROKEN" in result.stdout
