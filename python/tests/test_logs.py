import json
import unittest

import support  # noqa: F401

from akidb_bridge_core.logs import Logger, parse_traceparent, utc_timestamp

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TraceparentTests(unittest.TestCase):
    def test_valid(self):
        self.assertEqual(parse_traceparent(TRACEPARENT), ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        self.assertEqual(parse_traceparent(TRACEPARENT.upper())[0], "4bf92f3577b34da6a3ce929d0e0e4736")

    def test_invalid_is_ignored(self):
        for bad in (None, 42, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"):
            self.assertIsNone(parse_traceparent(bad), bad)


class LoggerTests(unittest.TestCase):
    def setUp(self):
        self.lines = []
        self.log = Logger("info", write=lambda b: self.lines.append(json.loads(b.decode())))

    def test_records_are_json_with_the_spec_fields(self):
        self.log.info("model loaded", model="m")
        (record,) = self.lines
        self.assertEqual(record["level"], "info")
        self.assertEqual(record["msg"], "model loaded")
        self.assertEqual(record["model"], "m")
        self.assertRegex(record["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertNotIn("trace_id", record)

    def test_trace_context_applies_only_inside_the_block(self):
        with self.log.trace(TRACEPARENT):
            self.log.warning("inside")
        self.log.warning("outside")
        self.assertEqual(self.lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736")
        self.assertEqual(self.lines[0]["span_id"], "00f067aa0ba902b7")
        self.assertNotIn("trace_id", self.lines[1])

    def test_level_filtering_and_aliases(self):
        self.log.debug("hidden")
        self.assertEqual(self.lines, [])
        self.log.set_level("Debug")
        self.log.debug("shown")
        self.assertEqual(len(self.lines), 1)
        self.log.set_level("Warn")
        self.log.info("hidden again")
        self.assertEqual(len(self.lines), 1)
        with self.assertRaises(ValueError):
            self.log.set_level("loud")

    def test_one_write_per_record(self):
        writes = []
        Logger(write=writes.append).error("boom", detail="x\ny")
        self.assertEqual(len(writes), 1)
        self.assertTrue(writes[0].endswith(b"\n"))
        self.assertEqual(writes[0].count(b"\n"), 1, "embedded newlines must be escaped inside the JSON")

    def test_timestamp_format(self):
        self.assertEqual(utc_timestamp(0.5), "1970-01-01T00:00:00.500Z")


if __name__ == "__main__":
    unittest.main()
