"""Time the parts of one AdaIN training step (data, forward+backward) on the chosen device."""
import random, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_adain as ta, torch_models as tm, style_losses

dev = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cuda")
torch.backends.cudnn.benchmark = True
rng = random.Random(0)
t0 = time.time(); contents = ta.load_images(Path("build/data512/content"), "content"); print("load", time.time() - t0)
enc = tm.load_encoder("build/weights", 4).to(dev).requires_grad_(False)
feat = tm.load_features("build/weights").to(dev).requires_grad_(False)
dec = tm.load_decoder("build/weights", 4).to(dev).train()
opt = torch.optim.Adam(dec.parameters(), 1e-4)
loss_fn = style_losses.StyleLoss("bn")
def sync():
    if dev.type == "cuda": torch.cuda.synchronize()
for name, n in (("warm", 5), ("timed", 30)):
    td = tf = 0
    for _ in range(n):
        t = time.time(); c = ta.batch(contents, 8, 256, rng, dev); s = ta.batch(contents, 8, 256, rng, dev); sync(); td += time.time() - t
        t = time.time()
        with torch.no_grad():
            tt = ta.adain(enc(c), enc(s)); sf = feat(s)
        out = dec(tt); l = torch.nn.functional.mse_loss(enc(out), tt) + 10 * loss_fn(feat(out), sf)
        opt.zero_grad(); l.backward(); opt.step(); sync(); tf += time.time() - t
    print(name, "data ms", 1000 * td / n, "step ms", 1000 * tf / n, flush=True)
