#!/usr/bin/env python3
"""Turn a terminal capture with colour escapes (`tmux capture-pane -e -p`)
into an SVG picture, so the README can show a real run of the TUI.

Usage: python3 docs/ansi_to_svg.py capture.ansi > docs/screenshot.svg
Understands SGR reset, bold, reverse, 24-bit and 256-colour foregrounds and
backgrounds, and the default-colour codes; that is all ratatui emits.
"""
import html
import re
import sys

CELL_W, CELL_H, FONT = 8.4, 17, 14
DEFAULT_FG, DEFAULT_BG = (208, 208, 208), (18, 18, 18)
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def xterm256(n):
    base = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
            (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0),
            (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255)]
    if n < 16:
        return base[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


def apply(codes, st):
    nums = [int(c) if c else 0 for c in codes.split(";")] if codes else [0]
    i = 0
    while i < len(nums):
        n = nums[i]
        if n == 0:
            st.update(fg=None, bg=None, bold=False, rev=False)
        elif n == 1:
            st["bold"] = True
        elif n == 7:
            st["rev"] = True
        elif n == 39:
            st["fg"] = None
        elif n == 49:
            st["bg"] = None
        elif n in (38, 48) and i + 1 < len(nums):
            key = "fg" if n == 38 else "bg"
            if nums[i + 1] == 2 and i + 4 < len(nums):
                st[key] = tuple(nums[i + 2:i + 5])
                i += 4
            elif nums[i + 1] == 5 and i + 2 < len(nums):
                st[key] = xterm256(nums[i + 2])
                i += 2
        elif 30 <= n <= 37:
            st["fg"] = xterm256(n - 30)
        elif 40 <= n <= 47:
            st["bg"] = xterm256(n - 40)
        i += 1


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().rstrip("\n").split("\n")
    width = max(len(SGR.sub("", l)) for l in lines)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * CELL_W:.0f}" '
           f'height="{len(lines) * CELL_H}" font-family="DejaVu Sans Mono, Menlo, monospace" '
           f'font-size="{FONT}">',
           f'<rect width="100%" height="100%" fill="rgb{DEFAULT_BG}"/>']
    st = dict(fg=None, bg=None, bold=False, rev=False)
    for row, line in enumerate(lines):
        col, pos = 0, 0
        for m in list(SGR.finditer(line)) + [None]:
            text = line[pos:m.start()] if m else line[pos:]
            if text:
                fg, bg = st["fg"] or DEFAULT_FG, st["bg"]
                if st["rev"]:
                    fg, bg = bg or DEFAULT_BG, fg
                x, y = col * CELL_W, row * CELL_H
                if bg:
                    out.append(f'<rect x="{x:.1f}" y="{y}" width="{len(text) * CELL_W:.1f}" '
                               f'height="{CELL_H}" fill="rgb{tuple(bg)}"/>')
                weight = ' font-weight="bold"' if st["bold"] else ""
                out.append(f'<text x="{x:.1f}" y="{y + CELL_H - 4}" fill="rgb{tuple(fg)}"{weight} '
                           f'xml:space="preserve" textLength="{len(text) * CELL_W:.1f}">'
                           f'{html.escape(text)}</text>')
                col += len(text)
            if m:
                apply(m.group(1), st)
                pos = m.end()
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
