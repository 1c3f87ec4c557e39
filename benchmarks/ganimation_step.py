"""Speed and memory of one GANimation training iteration (Pumarola et al., ECCV 2018).

For each precision (and with / without XLA) a fresh subprocess builds the full-size
networks (128 px, batch 25, 8.5 M / 45 M parameters), times critic-only iterations,
critic + generator iterations and the generator alone at batch 1, and reports its
peak resident memory (`ru_maxrss` of that child, from `os.wait4`). The input
pipeline is timed on its own (decode -> batches of 25) on generated JPEGs.

The baseline is the original PyTorch code (albertpumarola/GANimation) measured on
this CPU: 3.9 s per critic-only iteration, 17.2 s per critic + generator iteration
(6.5 s per iteration on average with 5 critic updates per generator update), 71 ms
for the generator at batch 1, 7.1 GB peak memory. Because a shared machine's load
changes wall times several-fold, the same iteration is also re-implemented in
PyTorch and timed in this run (`--torch`); ratios are given against both, the
mixed-precision rows also against float32. CPU seconds (all threads) are reported
next to wall seconds.

  python -m benchmarks.ganimation_step --out=/tmp/ganimation_step.json
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from benchmarks.machine import describe_execution
from benchmarks.machine import execution_info
from benchmarks.machine import machine_info
from benchmarks.machine import set_threads
from benchmarks.machine import write_result

flags.DEFINE_string("out", None, "Write the results as JSON here.")
flags.DEFINE_integer("iterations", 3, "Timed iterations of each kind (after one warm-up).")
flags.DEFINE_integer("xla_iterations", 1, "Timed iterations of each kind with XLA (slow on CPU).")
flags.DEFINE_integer("image_size", 128, "Image size.")
flags.DEFINE_integer("batch_size", 25, "Batch size.")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions to time.")
flags.DEFINE_list("xla_precisions", ["float32"],
                  "Precisions also timed with jit_compile=True (XLA).")
flags.DEFINE_boolean("torch", True, "Also time a PyTorch re-implementation of the original "
                     "iteration in this run (needs torch), the same-load baseline.")
flags.DEFINE_integer("torch_iterations", 1, "Timed PyTorch iterations of each kind.")
flags.DEFINE_integer("pipeline_images", 250, "Images generated for the input pipeline timing.")
flags.DEFINE_integer("threads", 0, "Threads of TensorFlow (intra and inter op) and of "
                     "PyTorch (0: all cores). With 1, the CPU seconds per iteration measure "
                     "the work even on a loaded machine.")
flags.DEFINE_string("child", None, "Internal: 'precision,jit' runs one configuration.")
FLAGS = flags.FLAGS

# The original PyTorch code on this CPU (see the module docstring).
BASELINE = {"critic_s": 3.9, "full_s": 17.2, "avg_s": 6.5, "g_latency_ms": 71.0,
            "peak_mb": 7100.0}
CRITIC_STEPS = 5


def _avg(critic_s, full_s):
  return ((CRITIC_STEPS - 1) * critic_s + full_s) / CRITIC_STEPS


def torch_iteration(image_size, batch_size, threads=0):
  """(iteration(train_g), generator, images, target AUs): the original PyTorch training
  iteration, re-implemented here to time it in the
  same run (same machine load) as ours. Not the original code; what it keeps on
  purpose: its networks (StarGAN-style G with attention, 6-layer patch critic),
  its per-iteration work (G forward recorded even for the critic step, a critic
  step on real/fake + AU loss, then a *second* critic step for the gradient
  penalty, and every 5th iteration a generator step with a fresh G forward, the
  critic on the fake and the cycle pass), Adam(1e-4, 0.5, 0.999), float32.
  """
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  if threads:
    torch.set_num_threads(threads)
  s, b, c_dim = image_size, batch_size, 17

  class Res(nn.Module):

    def __init__(self, d):
      super().__init__()
      self.main = nn.Sequential(
          nn.Conv2d(d, d, 3, 1, 1, bias=False), nn.InstanceNorm2d(d, affine=True), nn.ReLU(),
          nn.Conv2d(d, d, 3, 1, 1, bias=False), nn.InstanceNorm2d(d, affine=True))

    def forward(self, x):
      return x + self.main(x)

  class Gen(nn.Module):

    def __init__(self, d=64):
      super().__init__()
      layers = [nn.Conv2d(3 + c_dim, d, 7, 1, 3, bias=False), nn.InstanceNorm2d(d, affine=True),
                nn.ReLU()]
      for _ in range(2):
        layers += [nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False),
                   nn.InstanceNorm2d(2 * d, affine=True), nn.ReLU()]
        d *= 2
      layers += [Res(d) for _ in range(6)]
      for _ in range(2):
        layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False),
                   nn.InstanceNorm2d(d // 2, affine=True), nn.ReLU()]
        d //= 2
      self.main = nn.Sequential(*layers)
      self.img = nn.Sequential(nn.Conv2d(d, 3, 7, 1, 3, bias=False), nn.Tanh())
      self.att = nn.Sequential(nn.Conv2d(d, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, x, c):
      c = c[:, :, None, None].expand(c.size(0), c.size(1), x.size(2), x.size(3))
      h = self.main(torch.cat([x, c], 1))
      return self.img(h), self.att(h)

  class Dis(nn.Module):

    def __init__(self, d=64):
      super().__init__()
      layers = [nn.Conv2d(3, d, 4, 2, 1), nn.LeakyReLU(0.01)]
      for _ in range(5):
        layers += [nn.Conv2d(d, 2 * d, 4, 2, 1), nn.LeakyReLU(0.01)]
        d *= 2
      self.main = nn.Sequential(*layers)
      self.conv1 = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
      self.conv2 = nn.Conv2d(d, c_dim, s // 64, bias=False)

    def forward(self, x):
      h = self.main(x)
      return self.conv1(h).squeeze(), self.conv2(h).squeeze()

  g, d = Gen(), Dis()
  opt_g = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.5, 0.999))
  x = torch.rand(b, 3, s, s) * 2 - 1
  real_c, desired_c = torch.rand(b, c_dim), torch.rand(b, c_dim)
  mse, l1 = nn.MSELoss(), nn.L1Loss()

  def iteration(train_g):
    fake_rgb, mask = g(x, desired_c)
    fake = mask * x + (1 - mask) * fake_rgb
    real_prob, real_cond = d(x)
    fake_prob, _ = d(fake.detach())
    loss_d = -real_prob.mean() + 4000 * mse(real_cond, real_c) / b + fake_prob.mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    alpha = torch.rand(b, 1, 1, 1).expand_as(x)
    inter = (alpha * x + (1 - alpha) * fake.detach()).requires_grad_(True)
    prob, _ = d(inter)
    grad = torch.autograd.grad(prob, inter, torch.ones_like(prob), create_graph=True)[0]
    gp = 10 * ((grad.view(b, -1).norm(dim=1) - 1) ** 2).mean()
    opt_d.zero_grad()
    gp.backward()
    opt_d.step()
    if train_g:
      fake_rgb, mask = g(x, desired_c)
      fake = mask * x + (1 - mask) * fake_rgb
      prob, cond = d(fake)
      rec_rgb, rec_mask = g(fake, real_c)
      rec = rec_mask * fake + (1 - rec_mask) * rec_rgb

      def tv(m):
        return (m[:, :, :, :-1] - m[:, :, :, 1:]).abs().sum() + (
            m[:, :, :-1, :] - m[:, :, 1:, :]).abs().sum()

      loss_g = (-prob.mean() + 4000 * mse(cond, desired_c) / b + 10 * l1(rec, x) +
                0.1 * (mask.mean() + rec_mask.mean()) + 1e-5 * (tv(mask) + tv(rec_mask)))
      opt_g.zero_grad()
      loss_g.backward()
      opt_g.step()
    return float(loss_d)

  return iteration, g, x, desired_c


def _torch_child():
  """Times `torch_iteration` at the flags' size; prints one JSON line."""
  import torch  # pylint: disable=g-import-not-at-top
  iteration, g, x, desired_c = torch_iteration(FLAGS.image_size, FLAGS.batch_size,
                                               FLAGS.threads)

  def timed(train_g, n):
    iteration(train_g)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n):
      iteration(train_g)
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n

  result = {"precision": "pytorch_float32", "jit_compile": False,
            "torch_threads": torch.get_num_threads(),
            "execution": {"threads": torch.get_num_threads()}}
  result["critic_s"], result["critic_cpu_s"] = timed(False, FLAGS.iterations)
  result["full_s"], result["full_cpu_s"] = timed(True, FLAGS.iterations)
  result["avg_s"] = _avg(result["critic_s"], result["full_s"])
  result["avg_cpu_s"] = _avg(result["critic_cpu_s"], result["full_cpu_s"])
  with torch.no_grad():
    x1, c1 = x[:1], desired_c[:1]
    g(x1, c1)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(10):
      rgb, m = g(x1, c1)
      _ = m * x1 + (1 - m) * rgb
    result["g_latency_ms"] = 100.0 * (time.perf_counter() - t)
    result["g_latency_cpu_ms"] = 100.0 * (time.process_time() - c)
  print("RESULT " + json.dumps(result), flush=True)


def build_iteration(precision, jit, image_size, batch_size, threads=0):
  """(critic-only iteration, critic + generator iteration, batch, generator) of the
  full-size GANimation at `precision`, compiled with XLA when `jit`."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfsingan.ganimation import model as model_lib  # pylint: disable=g-import-not-at-top
  from tfsingan.ganimation import networks  # pylint: disable=g-import-not-at-top

  set_threads(threads)
  keras.utils.set_random_seed(0)
  s, b = image_size, batch_size
  # The networks' own dtype policy, as in the trainer (the global one is left alone).
  generator, critic = networks.build_networks(s, dtype=precision)
  model = model_lib.GANimationModel(generator, critic)
  ls = precision == "mixed_float16"
  model.compile(model_lib.make_optimizer(1e-4, 0.5, 0.999, total_steps=10**6, decay_steps=0,
                                         loss_scale=ls),
                model_lib.make_optimizer(1e-4, 0.5, 0.999, total_steps=10**6, decay_steps=0,
                                         loss_scale=ls),
                jit_compile=jit)
  batch = {"image": tf.random.uniform((b, s, s, 3), -1.0, 1.0),
           "aus": tf.random.uniform((b, 17)), "target_aus": tf.random.uniform((b, 17))}
  # The trainer's step: a critic-only iteration (0) and a critic + generator one
  # (the last of each critic_steps).
  step = model.make_step_function()
  assert not model.trains_generator(0) and model.trains_generator(model.critic_steps - 1)
  return (lambda batch: step(batch, 0), lambda batch: step(batch, model.critic_steps - 1),
          batch, generator)


def _child(spec):
  """Times one configuration in this process; prints one JSON line."""
  if spec == "torch":
    _torch_child()
    return
  precision, jit = spec.split(",")
  jit = jit == "true"
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  critic_fn, full_fn, batch, generator = build_iteration(precision, jit, FLAGS.image_size,
                                                         FLAGS.batch_size, FLAGS.threads)

  def timed(fn, n):
    float(fn(batch)["d_loss"])  # warm-up (tracing, compilation)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n):
      float(fn(batch)["d_loss"])
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n

  result = {"precision": precision, "jit_compile": jit,
            "execution": execution_info(FLAGS.threads, xla=jit)}
  # CPU seconds (all threads) next to wall seconds: on a shared machine the wall
  # time includes waiting for the cores.
  result["critic_s"], result["critic_cpu_s"] = timed(critic_fn, FLAGS.iterations)
  result["full_s"], result["full_cpu_s"] = timed(full_fn, FLAGS.iterations)
  result["avg_s"] = _avg(result["critic_s"], result["full_s"])
  result["avg_cpu_s"] = _avg(result["critic_cpu_s"], result["full_cpu_s"])

  infer = tf.function(lambda x, a: generator((x, a))[0], jit_compile=jit)
  x1, a1 = batch["image"][:1], batch["aus"][:1]
  infer(x1, a1).numpy()
  t, c = time.perf_counter(), time.process_time()
  n = 10
  for _ in range(n):
    infer(x1, a1).numpy()
  result["g_latency_ms"] = 1000.0 * (time.perf_counter() - t) / n
  result["g_latency_cpu_ms"] = 1000.0 * (time.process_time() - c) / n
  print("RESULT " + json.dumps(result), flush=True)


def _run_child_with_rss(precision, jit, iterations, image_size, batch_size, threads=0):
  """Runs one configuration; adds its own peak RSS (os.wait4 on that child only)."""
  spec = "torch" if precision == "torch" else f"{precision},{jit}"
  cmd = [sys.executable, "-m", "benchmarks.ganimation_step", f"--child={spec}",
         f"--iterations={iterations}", f"--image_size={image_size}",
         f"--batch_size={batch_size}", f"--threads={threads}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
  if proc.returncode != 0:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
  line = next(l for l in stdout.splitlines() if l.startswith("RESULT "))
  result = json.loads(line[len("RESULT "):])
  result["peak_mb"] = usage.ru_maxrss / 1024.0  # Linux reports KiB
  return result


def _pipeline_images_per_second(n, s, b):
  """Images/s of the input pipeline alone (decode + augment + batch), first pass.

  On `n` generated s x s JPEGs in batches of `b`.
  """
  try:
    from benchmarks import ganimation_pipeline  # pylint: disable=g-import-not-at-top
    fn = getattr(ganimation_pipeline, "images_per_second", None)
  except Exception:  # pylint: disable=broad-except
    # Absent, or its absl flags clash with ours (--image_size, --batch_size).
    fn = None
  if fn is not None:
    return fn(), "benchmarks.ganimation_pipeline.images_per_second"
  import pickle  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import cv2  # pylint: disable=g-import-not-at-top
  from tfsingan.ganimation import data as data_lib  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as root:
    os.makedirs(os.path.join(root, "imgs"))
    table = {}
    yy, xx = np.mgrid[0:s, 0:s]
    for i in range(n):
      img = (127 + 100 * np.sin(xx[..., None] / (5 + i % 7) + rng.uniform(0, 6, 3)) *
             np.cos(yy[..., None] / 9.0)).astype(np.uint8)
      cv2.imwrite(os.path.join(root, "imgs", f"{i:05d}.jpg"), img)
      table[f"{i:05d}"] = rng.uniform(0, 5, 17)
    with open(os.path.join(root, "aus_openface.pkl"), "wb") as f:
      pickle.dump(table, f)
    with open(os.path.join(root, "train_ids.csv"), "w") as f:
      f.write("\n".join(f"{i:05d}.jpg" for i in range(n)))
    ds = data_lib.make_dataset(root, split="train", image_size=s, batch_size=b, repeat=False,
                               cache=False)
    t = time.perf_counter()
    count = 0
    for batch in ds:
      count += int(batch["image"].shape[0])
    return count / (time.perf_counter() - t), "tfsingan.ganimation.data.make_dataset (uncached)"


def run(iterations=3, xla_iterations=1, image_size=128, batch_size=25,
        precisions=("float32", "mixed_bfloat16"), xla_precisions=("float32",), torch=True,
        torch_iterations=1, pipeline_images=250, threads=0):
  """Times every configuration in its own subprocess; prints the table.

  Args are the flags of the same names (`pipeline_images=0` skips the input pipeline).

  Returns:
    The result dict written by `--out` (rows, PyTorch same-run row, pipeline images/s).
  """
  rows = []
  torch_row = None
  print(describe_execution(execution_info(threads)), flush=True)
  if torch:
    if importlib.util.find_spec("torch") is not None:
      print("timing the PyTorch re-implementation ...", flush=True)
      torch_row = _run_child_with_rss("torch", "false", torch_iterations, image_size,
                                      batch_size, threads)
    else:
      print("torch is not installed: no same-run baseline", flush=True)
  for precision in precisions:
    for jit in ["false"] + (["true"] if precision in xla_precisions else []):
      print(f"timing {precision} jit_compile={jit} ...", flush=True)
      rows.append(_run_child_with_rss(precision, jit,
                                      xla_iterations if jit == "true" else iterations,
                                      image_size, batch_size, threads))
      print(describe_execution(rows[-1]["execution"]), flush=True)
  pipeline, pipeline_source = None, None
  if pipeline_images:
    pipeline, pipeline_source = _pipeline_images_per_second(pipeline_images, image_size,
                                                            batch_size)

  f32 = {r["jit_compile"]: r for r in rows if r["precision"] == "float32"}
  header = (f"{'precision':<16}{'xla':<6}{'critic s':>9}{'crit+gen s':>11}{'avg s/it':>9}"
            f"{'avg cpu s':>10}{'G@1 ms':>8}{'peak MB':>9}{'x orig':>7}{'x torch':>8}"
            f"{'x f32':>6}{'mem %':>6}")
  print(header)
  print("-" * len(header))

  def line(name, r, orig, vs_torch, vs32, mem):
    fmt = lambda v, w, p: f"{v:>{w}.{p}f}" if v is not None else f"{'-':>{w}}"
    print(f"{name:<22}{fmt(r['critic_s'], 9, 2)}{fmt(r['full_s'], 11, 2)}"
          f"{fmt(r['avg_s'], 9, 2)}{fmt(r.get('avg_cpu_s'), 10, 2)}"
          f"{fmt(r['g_latency_ms'], 8, 1)}{fmt(r['peak_mb'], 9, 0)}{fmt(orig, 7, 2)}"
          f"{fmt(vs_torch, 8, 2)}{fmt(vs32, 6, 2)}{fmt(mem, 6, 0)}")

  line("PyTorch original*", BASELINE, 1.0, None, None, 100.0)
  if torch_row is not None:
    line("PyTorch same run", torch_row, BASELINE["avg_s"] / torch_row["avg_s"], 1.0, None,
         100 * torch_row["peak_mb"] / BASELINE["peak_mb"])
  for r in rows:
    r["speedup_vs_original"] = BASELINE["avg_s"] / r["avg_s"]
    r["speedup_vs_torch_same_run"] = (torch_row["avg_s"] / r["avg_s"]) if torch_row else None
    base = f32.get(r["jit_compile"])
    r["speedup_vs_float32"] = base["avg_s"] / r["avg_s"] if base else None
    r["memory_vs_original"] = r["peak_mb"] / BASELINE["peak_mb"]
    line(f"{r['precision']:<16}{str(r['jit_compile']):<6}", r, r["speedup_vs_original"],
         r["speedup_vs_torch_same_run"], r["speedup_vs_float32"],
         100 * r["memory_vs_original"])
  print("* measured earlier on this CPU with the original code (not in this run)")
  if pipeline is not None:
    print(f"input pipeline alone: {pipeline:.0f} images/s ({pipeline_source}); one iteration "
          f"needs {batch_size} images")
  return {"image_size": image_size, "batch_size": batch_size,
          "critic_steps": CRITIC_STEPS, "timed_iterations": iterations,
          "baseline_pytorch_original": BASELINE, "pytorch_same_run": torch_row,
          "rows": rows,
          "pipeline_images_per_s": pipeline, "pipeline_source": pipeline_source,
          "cpu_count": os.cpu_count(), "load_average_after": os.getloadavg(),
          "threads": threads or os.cpu_count(), "execution": execution_info(threads),
          "machine": machine_info()}


def main(argv):
  del argv
  if FLAGS.child:
    _child(FLAGS.child)
    return
  result = run(FLAGS.iterations, FLAGS.xla_iterations, FLAGS.image_size, FLAGS.batch_size,
               FLAGS.precisions, FLAGS.xla_precisions, FLAGS.torch, FLAGS.torch_iterations,
               FLAGS.pipeline_images, FLAGS.threads)
  write_result(FLAGS.out, result)


if __name__ == "__main__":
  app.run(main)
