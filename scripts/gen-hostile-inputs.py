#!/usr/bin/env python3
"""Writes the hostile build files under testdata/hostile/ (tests/it/hostile/inputs.rs runs them).

Each one would exhaust memory or the stack of a compiler without input limits; the files are
generated because several are long and repetitive. Run from the repository root. The
`.expected` files hold the exact error; they are not generated here (they were taken from
melwrap's output and checked by reading each one)."""

from pathlib import Path

root = Path("testdata/hostile")
pipes = root / "pipelines"
pipes.mkdir(parents=True, exist_ok=True)
HEAD = "package:\n  name: hostile\n  version: 1.0.0\n  epoch: 0\n"


def write(path, text):
    Path(path).write_text(text)


# `uses:` pipelines calling each other in a loop, and one calling itself.
write(pipes / "loop-a.yaml", "pipeline:\n  - uses: loop-b\n")
write(pipes / "loop-b.yaml", "pipeline:\n  - uses: loop-a\n")
write(pipes / "loop-self.yaml", "pipeline:\n  - runs: echo once\n  - uses: loop-self\n")
write(root / "uses-loop.yaml", HEAD + "pipeline:\n  - uses: loop-a\n")
write(root / "uses-self.yaml", HEAD + "pipeline:\n  - uses: loop-self\n")

# Ten calls per level, nine levels: 10^9 steps.
write(pipes / "fan0.yaml", "pipeline:\n  - runs: echo leaf\n")
for level in range(1, 9):
    write(pipes / f"fan{level}.yaml", "pipeline:\n" + f"  - uses: fan{level - 1}\n" * 10)
write(root / "uses-fanout.yaml", HEAD + "pipeline:\n  - uses: fan8\n")

# A chain of 20 definitions, each calling the next.
for level in range(20):
    body = f"  - uses: deep{level + 1:02}\n" if level < 19 else "  - runs: echo bottom\n"
    write(pipes / f"deep{level:02}.yaml", "pipeline:\n" + body)
write(root / "uses-deep.yaml", HEAD + "pipeline:\n  - uses: deep00\n")

# vars that double the one before, unused: 2^40 bytes.
doubling = "vars:\n  v0: x\n" + "".join(
    f'  v{i}: "${{{{vars.v{i - 1}}}}}${{{{vars.v{i - 1}}}}}"\n' for i in range(1, 41)
)
write(root / "vars-doubling.yaml", HEAD + doubling + "pipeline:\n  - runs: echo hi\n")

# A 512 KiB var (under the limit) repeated 4096 times by a var-transform: 2 GiB.
half = "vars:\n  v0: x\n" + "".join(
    f'  v{i}: "${{{{vars.v{i - 1}}}}}${{{{vars.v{i - 1}}}}}"\n' for i in range(1, 20)
)
write(
    root / "var-transform-multiply.yaml",
    HEAD
    + half
    + "var-transforms:\n  - from: ${{vars.v19}}\n    match: .+\n    replace: "
    + "$0" * 4096
    + "\n    to: big\npipeline:\n  - runs: echo hi\n",
)

# A 512 KiB environment value inherited by a thousand steps: 512 MiB of plan.
write(
    root / "plan-size.yaml",
    HEAD
    + half
    + "pipeline:\n  - environment:\n      BIG: ${{vars.v19}}\n    pipeline:\n      - uses: fan3\n",
)

# 10^5 nested parentheses in `if:`, and in `${{ }}` expressions, and 10^5 `!`.
deep = 100_000
write(
    root / "if-parens.yaml",
    HEAD + "pipeline:\n  - if: " + "(" * deep + "'a' == 'a'" + ")" * deep + "\n    runs: echo hi\n",
)
write(
    root / "expr-parens.yaml",
    HEAD + 'pipeline:\n  - runs: "${{ ' + "(" * deep + "'a'" + ")" * deep + ' }}"\n',
)
write(root / "expr-not.yaml", HEAD + 'pipeline:\n  - runs: "${{ ' + "!" * deep + "'a' }}\"\n")

# A chain of 100 vars, each naming the next.
chain = "vars:\n" + "".join(f"  c{i:03}: ${{{{vars.c{i + 1:03}}}}}\n" for i in range(99)) + "  c099: end\n"
write(root / "var-chain.yaml", HEAD + chain + "pipeline:\n  - runs: echo hi\n")

# A 64 KiB string repeated through 20000 aliases (under the 100000-value alias limit): 1.3 GB.
write(
    root / "alias-text.yaml",
    "vars:\n  s: &s " + "x" * 65536 + "\n" + HEAD
    + "  dependencies:\n    runtime: [" + ", ".join(["*s"] * 20000) + "]\n",
)
