"""The ctypes binding indexes struct OrtApi by slot number; these tests re-derive
every slot from onnxruntime_c_api.h so an ONNX Runtime upgrade that moved one
fails here instead of calling the wrong C function."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import support

if support.numpy_available():
    from akidb_bridge_core import ort_ctypes

HEADER = support.ort_header()


def _blank_comments(text: str) -> str:
    """Comments replaced by spaces of the same length, so offsets still line up."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: " " * len(m.group(0)), text, flags=re.S)


def parse_ortapi(header_text: str):
    """[(member name, offset of its declaration in header_text)] in declaration order."""
    start = header_text.index("struct OrtApi {")
    body_start = header_text.index("{", start) + 1
    clean = _blank_comments(header_text)
    depth, end = 1, body_start
    for end in range(body_start, len(clean)):
        if clean[end] == "{":
            depth += 1
        elif clean[end] == "}":
            depth -= 1
            if depth == 0:
                break
    members, paren, decl_start = [], 0, body_start
    for i in range(body_start, end):
        ch = clean[i]
        if ch == "(":
            paren += 1
        elif ch == ")":
            paren -= 1
        elif ch == ";" and paren == 0:
            decl = clean[decl_start:i].strip()
            m = (re.match(r"ORT_API2_STATUS\s*\(\s*(\w+)", decl)
                 or re.match(r"ORT_API_T\s*\(\s*[^,]+,\s*(\w+)", decl)
                 or re.search(r"\(\s*ORT_API_CALL\s*\*\s*(\w+)\s*\)", decl))
            release = re.match(r"ORT_CLASS_RELEASE\s*\(\s*(\w+)\s*\)", decl)
            if release:
                members.append(("Release" + release.group(1), i))
            elif m:
                members.append((m.group(1), i))
            else:
                raise AssertionError(f"cannot parse OrtApi member: {decl[:160]!r}")
            decl_start = i + 1
    return members


@unittest.skipUnless(support.numpy_available(), "numpy is not installed (use /usr/bin/python3)")
@unittest.skipUnless(HEADER, "onnxruntime_c_api.h not found (set AKIDB_ORT_HEADER)")
class SlotTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(HEADER, encoding="utf-8") as f:
            cls.text = f.read()
        cls.members = parse_ortapi(cls.text)
        cls.index = {name: i for i, (name, _) in enumerate(cls.members)}

    def test_parser_sanity(self):
        self.assertEqual(self.members[0][0], "CreateStatus")
        self.assertGreater(len(self.members), 217)
        self.assertEqual(len(self.index), len(self.members), "duplicate member names: the parser is confused")

    def test_every_slot_matches_the_header(self):
        mismatches = {name: (slot, self.index.get(name)) for name, slot in ort_ctypes.SLOTS.items()
                      if self.index.get(name) != slot}
        self.assertEqual(mismatches, {}, "binding slot != header slot (name: (binding, header))")

    def test_every_bound_function_has_a_slot(self):
        self.assertEqual(sorted(set(ort_ctypes._PROTOTYPES) - set(ort_ctypes.SLOTS)), [])

    def test_slots_exist_in_the_requested_api_version(self):
        # GetApi(API_VERSION) only guarantees the members that existed in that
        # version; the header marks later ones with "\since Version 1.N".
        marker = re.compile(r"\\since\s+Version\s+1\.(\d+)")
        first_newer = None
        for i, (_name, offset) in enumerate(self.members):
            # the doc comment between the previous member and this one carries its "since" line
            previous = self.members[i - 1][1] if i else self.text.index("struct OrtApi {")
            since = [int(v) for v in marker.findall(self.text, previous, offset)]
            if since and since[-1] > ort_ctypes.API_VERSION:
                first_newer = i
                break
        self.assertIsNotNone(first_newer, "no member newer than the requested API version found")
        too_new = {n: s for n, s in ort_ctypes.SLOTS.items() if s >= first_newer}
        self.assertEqual(too_new, {}, f"these slots are newer than API {ort_ctypes.API_VERSION}")

    @unittest.skipUnless(shutil.which("cc"), "no C compiler to cross-check with offsetof")
    def test_slots_agree_with_the_compiler(self):
        lines = ['#include <stddef.h>', '#include <stdio.h>', f'#include "{os.path.basename(HEADER)}"',
                 "int main(void) {"]
        for name in ort_ctypes.SLOTS:
            lines.append(f'  printf("%s %zu\\n", "{name}", offsetof(OrtApi, {name}) / sizeof(void*));')
        lines += ["  return 0;", "}"]
        with tempfile.TemporaryDirectory() as tmp:
            source, exe = os.path.join(tmp, "slots.c"), os.path.join(tmp, "slots")
            with open(source, "w") as f:
                f.write("\n".join(lines))
            subprocess.run(["cc", "-I", os.path.dirname(HEADER), source, "-o", exe], check=True,
                           capture_output=True)
            out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
        compiled = {name: int(slot) for name, slot in (line.split() for line in out.splitlines())}
        self.assertEqual(compiled, ort_ctypes.SLOTS)


if __name__ == "__main__":
    unittest.main()
