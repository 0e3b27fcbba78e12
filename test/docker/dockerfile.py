"""Just enough of a Dockerfile and .dockerignore reader for the checks in
test/docker/: there is no Docker engine on the build machines, so the
Dockerfile is read as text, the way BuildKit's front end reads it
(parser directives, comments, backslash continuations, stages), and its
RUN lines are split into shell commands to find the apt-get installs."""

import re
import shlex


class Instruction:
    def __init__(self, line, keyword, args):
        self.line = line  # 1-based line where the instruction starts
        self.keyword = keyword  # upper case: FROM, RUN, COPY...
        self.args = args  # the rest, continuations joined with spaces

    def flags_and_rest(self):
        """Leading --name=value flags (COPY --from=build, HEALTHCHECK
        --interval=5s) as a dict, and what follows them."""
        flags = {}
        rest = self.args
        while True:
            m = re.match(r"--([A-Za-z-]+)(?:=(\S*))?\s*", rest)
            if not m:
                return flags, rest
            flags[m.group(1)] = m.group(2) if m.group(2) is not None else ""
            rest = rest[m.end():]

    def __repr__(self):
        return f"line {self.line}: {self.keyword} {self.args}"


class Stage:
    def __init__(self, index, from_instr, image, alias):
        self.index = index
        self.from_instr = from_instr
        self.image = image
        self.alias = alias
        self.instructions = []

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text):
    """Returns (stages, instructions before the first FROM)."""
    lines = text.split("\n")
    instrs = []
    in_directives = True
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if in_directives and re.match(r"#\s*\w+\s*=", stripped):
            i += 1  # parser directive (# syntax=..., # escape=...)
            continue
        in_directives = False
        if stripped == "" or stripped.startswith("#"):
            i += 1
            continue
        start = i + 1
        parts = []
        cur = raw
        while True:
            s = cur.rstrip()
            if s.endswith("\\"):
                parts.append(s[:-1])
                i += 1
                # comment and blank lines inside a continuation are dropped
                while i < len(lines) and (lines[i].strip() == "" or lines[i].strip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                cur = lines[i]
            else:
                parts.append(s)
                i += 1
                break
        joined = " ".join(p.strip() for p in parts).strip()
        m = re.match(r"(\S+)\s*(.*)", joined)
        instrs.append(Instruction(start, m.group(1).upper(), m.group(2)))

    stages = []
    preamble = []
    for ins in instrs:
        if ins.keyword == "FROM":
            _, rest = ins.flags_and_rest()
            words = rest.split()
            image = words[0] if words else ""
            alias = None
            if len(words) >= 3 and words[1].upper() == "AS":
                alias = words[2]
            stages.append(Stage(len(stages), ins, image, alias))
        elif stages:
            stages[-1].instructions.append(ins)
        else:
            preamble.append(ins)
    return stages, preamble


SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}


def shell_commands(script):
    """Splits a shell-form RUN into simple commands (lists of words),
    dropping leading VAR=value assignments."""
    lex = shlex.shlex(script, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    commands = []
    cur = []
    for tok in lex:
        if tok in SEPARATORS:
            if cur:
                commands.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        commands.append(cur)
    out = []
    for words in commands:
        while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words and words[0] in ("sudo", "env"):
            words = words[1:]
        if words:
            out.append(words)
    return out


APT_OPTIONS_WITH_VALUE = {"-o", "--option", "-t", "--target-release", "-c", "--config-file"}


class AptInstall:
    def __init__(self, instr, words):
        self.instr = instr
        self.words = words
        self.options = []
        self.packages = []
        args = words[words.index("install") + 1:]
        skip = False
        for w in args:
            if skip:
                skip = False
                continue
            if w.startswith("-"):
                self.options.append(w)
                if w in APT_OPTIONS_WITH_VALUE:
                    skip = True
            else:
                self.packages.append(w.split("=", 1)[0])  # pkg=version pins


def is_apt(words, verb):
    return words[0] in ("apt-get", "apt") and verb in words[1:]


def run_script(instr):
    """The shell text of a RUN (exec-form RUNs are returned joined)."""
    _, rest = instr.flags_and_rest()  # RUN --mount=... flags
    rest = rest.strip()
    if rest.startswith("["):
        import json
        try:
            return " ".join(json.loads(rest))
        except ValueError:
            return rest
    return rest


def apt_installs(stage):
    """Every apt-get/apt install in the stage, with the RUN it is in."""
    found = []
    for ins in stage.all("RUN"):
        for words in shell_commands(run_script(ins)):
            if is_apt(words, "install"):
                found.append(AptInstall(ins, words))
    return found


# ---- .dockerignore, as moby/patternmatcher reads it


def _pattern_regex(pattern):
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                if pattern[i:i + 3] == "**/":
                    out += "(?:.*/)?"
                    i += 3
                else:
                    out += ".*"
                    i += 2
                continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                cls = pattern[i + 1:j]
                if cls.startswith("!") or cls.startswith("^"):
                    cls = "^" + cls[1:]
                out += "[" + cls + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 1
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


def _clean(p):
    parts = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == ".." and parts:
            parts.pop()
            continue
        parts.append(seg)
    return "/".join(parts) or "."


class DockerIgnore:
    def __init__(self, text):
        self.rules = []  # (regex, exclusion?, source text)
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            negate = s.startswith("!")
            if negate:
                s = s[1:].strip()
            s = _clean(s)
            self.rules.append((_pattern_regex(s), negate, line.strip()))

    def ignored(self, path):
        """True when `path` (relative to the context) is left out of it:
        the last rule matching the path or one of its parent directories
        decides."""
        path = _clean(path)
        comps = path.split("/")
        prefixes = ["/".join(comps[:n]) for n in range(1, len(comps) + 1)]
        result = False
        for regex, negate, _ in self.rules:
            if any(regex.match(p) for p in prefixes):
                result = not negate
        return result
