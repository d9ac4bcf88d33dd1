#!/usr/bin/env python3
"""Unit tests of bench/scaling_model.py on cases computed by hand (ctest bench.scaling_model).
Standard library only."""
import json
import math
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaling_model as sm  # noqa: E402


def unit_link():
    # busbw 1 GB/s, no latency: on 2 GPUs t(S) = 2(2-1)/2 * S / 1e9 s = S / 1e6 ms.
    return sm.Link("unit", gpus_per_node=8, intra_busbw=1.0, intra_latency_us=0.0)


class Schedule(unittest.TestCase):
    def test_overlap_and_no_overlap_by_hand(self):
        # Buckets of 1, 2 and 1 ms on 2 GPUs, ready at 2, 3 and 10 ms; backward ends at 10 ms.
        w = sm.Workload("w", "full", step_ms=20.0, backward_end_ms=10.0,
                        buckets=[(1_000_000, 2.0), (2_000_000, 3.0), (1_000_000, 10.0)])
        a = sm.simulate(w, unit_link(), 2, overlap=True)
        # 2-3, 3-5 (ready at 3, the stream free at 3), 10-11: 1 ms after backward.
        self.assertEqual([(r["start_ms"], r["end_ms"]) for r in a["buckets"]],
                         [(2.0, 3.0), (3.0, 5.0), (10.0, 11.0)])
        self.assertAlmostEqual(a["exposed_ms"], 1.0)
        self.assertAlmostEqual(a["step_ms"], 21.0)
        self.assertAlmostEqual(a["efficiency"], 20.0 / 21.0)
        b = sm.simulate(w, unit_link(), 2, overlap=False)
        # All after backward: 10-11, 11-13, 13-14.
        self.assertEqual([(r["start_ms"], r["end_ms"]) for r in b["buckets"]],
                         [(10.0, 11.0), (11.0, 13.0), (13.0, 14.0)])
        self.assertAlmostEqual(b["step_ms"], 24.0)
        self.assertAlmostEqual(b["efficiency"], 20.0 / 24.0)
        # One GPU: nothing to send, efficiency 1.
        self.assertAlmostEqual(sm.simulate(w, unit_link(), 1)["efficiency"], 1.0)

    def test_stall_names_the_late_bucket_and_the_backlog(self):
        # 3, 3 and 1 ms buckets ready at 2, 2.5, 4; backward ends at 6: 2-5, 5-8, 8-9.
        w = sm.Workload("w", "full", step_ms=10.0, backward_end_ms=6.0,
                        buckets=[(3_000_000, 2.0), (3_000_000, 2.5), (1_000_000, 4.0)])
        sim = sm.simulate(w, unit_link(), 2)
        self.assertAlmostEqual(sim["exposed_ms"], 3.0)
        s = sm.stall(w, sim)
        self.assertEqual(s["buckets"], [1, 2])  # in flight or queued when backward ends
        self.assertEqual(s["last_ready"]["bucket"], 2)
        self.assertAlmostEqual(s["backlog_ms"], 2.0)  # starts at 8, could have at 6
        self.assertIn("buckets 1-2", sm.describe_stall(w, sim))
        # Nothing exposed: no stall.
        w2 = sm.Workload("w", "full", 10.0, 6.0, [(1_000_000, 1.0)])
        self.assertIsNone(sm.stall(w2, sm.simulate(w2, unit_link(), 2)))


class Links(unittest.TestCase):
    def test_ring_formula_and_the_node_boundary(self):
        link = sm.Link("h", gpus_per_node=8, intra_busbw=100.0, intra_latency_us=10.0, inter_busbw=10.0,
                       inter_latency_us=20.0, inter_latency_per_level_us=5.0)
        # 8 GPUs: 2*7/8 * 1e9 B / 100e9 B/s + 10 us.
        self.assertAlmostEqual(link.time(1e9, 8), 2 * 7 / 8 / 100 + 10e-6)
        # 64 GPUs = 8 nodes: inter busbw, latency 20 + 5 * log2(8) = 35 us.
        self.assertAlmostEqual(link.time(1e9, 64), 2 * 63 / 64 / 10 + 35e-6)
        self.assertEqual(link.time(1e9, 1), 0.0)
        # Every preset names its source and has the fields the formula needs.
        for name in sm.LINKS:
            p = sm.Link.preset(name)
            self.assertTrue(p.source)
            self.assertGreater(p.time(25 * sm.MIB, 512), p.time(25 * sm.MIB, 8) * 0.5)

    def test_measured_table_interpolates(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.csv")
            with open(path, "w") as f:
                f.write("size_bytes,count,type,redop,time_us,algbw_gbps,busbw_gbps,wrong\n"
                        "1000,250,float32,sum,10.0,0.1,0.1,0\n2000,500,float32,sum,30.0,0.07,0.07,0\n")
            t = sm.TableLink(path, 2)
            self.assertAlmostEqual(t.time(1500, 2), 20e-6)
            self.assertAlmostEqual(t.time(500, 2), 10e-6)
            self.assertAlmostEqual(t.time(4000, 2), 60e-6)


class Buckets(unittest.TestCase):
    def test_frost_bucket_rule(self):
        # Registration order a (40 B), b (40 B), c (120 B); cap 100 B. Reversed: c alone (larger
        # than the cap), then b + a (80 B).
        layers = [("a", 10, 1.0), ("b", 10, 1.0), ("c", 30, 2.0)]
        ready = sm.with_ready_fracs(layers)
        self.assertEqual([(n, r) for n, _, r in ready], [("a", 1.0), ("b", 0.75), ("c", 0.5)])
        b = sm.bucketize(ready, cap_bytes=100)
        self.assertEqual([(nbytes, frac, names) for nbytes, frac, names in b],
                         [(120, 0.5, ["c"]), (80, 1.0, ["b", "a"])])

    def test_presets_hold_the_architectures_parameters(self):
        # Hugging Face's BertModel (bert-base-uncased, pooler included) has 109,482,240
        # parameters; the head 768 * 2 + 2. torchvision's resnet50 has 25,557,032.
        self.assertEqual(sum(k for _, k, _ in sm.bert_base_params()), 109_482_240 + 1_538)
        self.assertEqual(sum(k for _, k, _ in sm.resnet50_params()), 25_557_032)

    def test_parametric_full_and_head(self):
        full, head = sm.preset_workloads("bert-base")
        self.assertEqual(full.strategy, "full")
        self.assertAlmostEqual(full.total_bytes, 4 * sum(k for _, k, _ in sm.bert_base_params()))
        self.assertEqual(head.total_bytes, 4 * (768 * 2 + 2))
        # The word embeddings (the first parameter registered) are launched last, at backward's end.
        self.assertEqual(full.buckets[-1][1], full.backward_end_ms)
        self.assertEqual(full.buckets[-1][0], 4 * 30522 * 768)


class Metrics(unittest.TestCase):
    def test_workload_from_a_metrics_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "metrics.jsonl")
            with open(path, "w") as f:
                for step in (1, 2, 3):
                    f.write(json.dumps({"kind": "train", "step": step, "strategy": "full", "step_ms": 100.0 + step,
                                        "data_wait_ms": 1.0, "forward_ms": 30.0, "backward_ms": 60.0,
                                        "comm_wait_ms": 0.0, "optimizer_ms": 5.0}) + "\n")
                    f.write(json.dumps({"kind": "buckets", "step": step, "backward_ms": 58.0, "bytes": [100, 200],
                                        "ready_ms": [10.0, 58.0], "allreduce_ms": [None, None]}) + "\n")
            w = sm.workload_from_metrics(path, skip=1)
            # Median step of steps 2 and 3; the origin is 1 + 30 + (60 - 58) = 33 ms into the step.
            self.assertAlmostEqual(w.step_ms, 102.5)
            self.assertAlmostEqual(w.backward_end_ms, 33.0 + 58.0)
            self.assertEqual(w.buckets, [(100, 43.0), (200, 91.0)])
            self.assertEqual(w.strategy, "full")
            m = sm.measured_comm(path, skip=1)
            self.assertEqual(m["allreduce_ms"], [None, None])


if __name__ == "__main__":
    unittest.main()
