"""The documentation points at things that exist: every relative link of every Markdown file (and its #anchor, a
heading slugged as GitHub slugs it), every `make TARGET`, `manage.py COMMAND` and path of the repository written in
code, and every setting the environment can give (classifier_site/settings/) in the README's configuration table."""

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
# Markdown that is test data, not documentation (the fuzz seeds' links are bad on purpose).
NOT_DOCUMENTATION = ("tests/fixtures/fuzz/",)
SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "var"}

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INDENTED_LINE = re.compile(r"^(?: {4,}|\t).*$", re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
# `make TARGET` where a command starts: a line's or a span's start, after `&&`, `;`, `|`, `(` or `$ `, or after
# VARIABLE=value assignments (`HOST=0.0.0.0 PORT=8080 make run`); not "make" in a sentence of a code block.
MAKE_TARGET = re.compile(
    r"(?:^|[;&|(]\s*|\$\s+)\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*make[ \t]+([A-Za-z][\w-]*)", re.MULTILINE
)
MANAGE_COMMAND = re.compile(r"manage\.py[ \t]+([a-z][\w-]*)")
MAKE_RULE = re.compile(r"^([A-Za-z][\w.-]*(?:[ \t]+[A-Za-z][\w.-]*)*)[ \t]*:(?!=)", re.MULTILINE)
# A file or folder of this repository, written from the top (`tests/classifier/test_api.py`, `mlcore/rule.py`).
REPOSITORY_PATH = re.compile(
    r"(?<![\w./<-])((?:bench|chat|classifier|classifier_site|deploy|docs|fuzz|locale|mlcore|static|templates|tests)"
    r"/[\w./-]*[\w/])(?![\w<>*{])"
)
ENVIRONMENT_READ = re.compile(r"""(?:os\.environ(?:\.get)?[\[(]|env_bool\(|env_list\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def markdown_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.md"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout.split("\0")
        paths = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every Markdown file but the skipped
        paths = [path for path in ROOT.rglob("*.md") if not SKIPPED_FOLDERS & set(path.relative_to(ROOT).parts)]
    return sorted(
        path
        for path in paths
        if path.is_file()
        and not SKIPPED_FOLDERS & set(path.relative_to(ROOT).parts)
        and not path.relative_to(ROOT).as_posix().startswith(NOT_DOCUMENTATION)
    )


def split_code(text: str) -> tuple[str, str]:
    """The text with code blocks and spans blanked out, and the code alone (blocks and spans, one per line)."""
    code = []

    def keep(match: re.Match, group: int = 0) -> str:
        code.append(match.group(group))
        return " "

    prose = FENCED_BLOCK.sub(keep, text)
    prose = INDENTED_LINE.sub(keep, prose)
    blocks = len(code)
    prose = CODE_SPAN.sub(lambda match: keep(match, 2), prose)
    lines = [line.strip() for block in code[:blocks] for line in block.splitlines()]
    spans = [" ".join(span.split()) for span in code[blocks:]]  # a span may wrap onto the next line
    return prose, "\n".join(lines + spans)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text without markup, lower case, punctuation dropped, spaces as '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters of every script, digits and '_'
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in HEADING.finditer(prose):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    return [match.group(1) for match in INLINE_LINK.finditer(prose)] + REFERENCE_LINK.findall(prose)


def code_of(path: Path) -> str:
    return split_code(path.read_text(encoding="utf-8"))[1]


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set()
    for match in MAKE_RULE.finditer(makefile):
        targets.update(match.group(1).split())
    return targets


def test_the_documents_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/model.md", "docs/deploying.md", "bench/RESULTS.md", "fuzz/README.md"} <= names, names


def test_every_relative_link_reaches_a_file_and_its_heading():
    problems, checked_files, checked_anchors = [], 0, 0
    for path in markdown_files():
        name = path.relative_to(ROOT).as_posix()
        for link in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE) or link.startswith("//"):
                continue  # https:, mailto: and the like: not a file of this repository
            target_part, _, anchor = link.partition("#")
            target = path if not target_part else (path.parent / unquote(target_part)).resolve()
            if target_part.startswith("/"):
                target = (ROOT / unquote(target_part).lstrip("/")).resolve()
            if not target.exists():
                problems.append(f"{name}: link {link!r}: {target_part} does not exist")
                continue
            checked_files += 1
            if anchor and target.suffix == ".md":
                if unquote(anchor).lower() not in anchors(target):
                    problems.append(f"{name}: link {link!r}: no heading #{anchor} in {target.relative_to(ROOT)}")
                checked_anchors += 1
    assert not problems, "broken links:\n" + "\n".join(problems)
    assert checked_files >= 20, f"only {checked_files} relative links found: is the link pattern still right?"
    assert checked_anchors >= 5, f"only {checked_anchors} #anchor links found: is the link pattern still right?"


def written_in_code(pattern: re.Pattern, exists, documents=None) -> tuple[set[str], list[str]]:
    """What the documents' code names by `pattern`, and a line for each such name that `exists` refuses."""
    named, problems = set(), []
    for path in documents or markdown_files():
        for name in pattern.findall(code_of(path)):
            named.add(name)
            if not exists(name):
                problems.append(f"{path.relative_to(ROOT).as_posix()}: `{name}` does not exist")
    return named, problems


def test_every_make_target_named_exists():
    targets = make_targets()
    assert {"run", "test"} <= targets, f"the Makefile's rules were not read: {sorted(targets)}"
    named, problems = written_in_code(MAKE_TARGET, targets.__contains__)
    assert not problems, "Makefile targets:\n" + "\n".join(problems)
    assert {"run", "test"} <= named, f"`make run` and `make test` were not found in the documents: {sorted(named)}"


def test_every_manage_py_command_named_exists():
    named, problems = written_in_code(MANAGE_COMMAND, get_commands().__contains__)
    assert not problems, "manage.py commands:\n" + "\n".join(problems)
    ours = {path.stem for path in ROOT.glob("*/management/commands/*.py") if not path.stem.startswith("_")}
    assert ours, "no management command modules found"
    assert ours <= named, f"commands the documents never name: {sorted(ours - named)}"


def configuration_table() -> str:
    """The rows of the README's configuration table, where each variable is written in code (`NAME`)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration") :]
    return "\n".join(line for line in table.splitlines() if line.startswith("|"))


def test_every_setting_from_the_environment_is_in_the_readme_table():
    read = set()
    for settings_file in (ROOT / "classifier_site" / "settings").glob("*.py"):
        read.update(ENVIRONMENT_READ.findall(settings_file.read_text(encoding="utf-8")))
    assert len(read) >= 20, f"only {sorted(read)} found read from the environment: is the pattern still right?"
    table_rows = configuration_table()
    missing = sorted(name for name in read if f"`{name}`" not in table_rows)
    assert not missing, f"README.md, Configuration: no row for {', '.join(missing)}"


# A line of an environment file in a code block: NAME=value, the value bare or in single quotes.
ENVIRONMENT_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(?:'[^']*'|[^\s'\"]*)$", re.MULTILINE)


def test_every_variable_the_deployment_page_sets_is_in_the_readme_table():
    """An operator copies these lines into .env or /etc/classifier-site/env: a misspelt name would be ignored."""
    named = set(ENVIRONMENT_LINE.findall(code_of(ROOT / "docs" / "deploying.md")))
    assert {"DJANGO_ALLOWED_HOSTS", "EMAIL_HOST", "AWS_S3_ENDPOINT_URL", "DJANGO_HSTS_PRELOAD"} <= named, named
    table_rows = configuration_table()
    unknown = sorted(name for name in named if f"`{name}`" not in table_rows)
    assert not unknown, f"docs/deploying.md sets {', '.join(unknown)}, which the README's table does not know"


def test_every_path_of_the_repository_written_in_code_exists():
    # The fixtures' notes say where each came from: paths of other repositories.
    documents = [path for path in markdown_files() if not path.is_relative_to(ROOT / "tests" / "fixtures")]
    named, problems = written_in_code(REPOSITORY_PATH, lambda name: (ROOT / name.rstrip("/")).exists(), documents)
    assert not problems, "paths:\n" + "\n".join(problems)
    assert len(named) >= 20, f"only {len(named)} paths found in the documents' code: is the pattern still right?"
