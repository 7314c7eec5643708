"""ylg: train, sample and explore SAGAN / YLG-SAGAN (a thin program over ``ylg``)."""

import click

from cli.errors import Group
from cli.options import checkpoint_option, device_option, out_option, seed_option
from ylg.models import attention_variants
from ylg.train import TrainConfig

DEFAULTS = TrainConfig()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Train and sample SAGAN and YLG-SAGAN (Your Local GAN).

    \b
    Examples:
      ylg train --attention ylg --width 16 --steps 2000 --diffaugment color,translation,cutout --out runs/ylg
      ylg sample --checkpoint runs/ylg/checkpoint.pt --classes 0,3,7 -o grid.png
      ylg interpolate --checkpoint runs/ylg/checkpoint.pt --class 3 -o walk.png
    """


def _config_option(name, *decls, **kw):
    """An option whose default is TrainConfig's, so that the defaults live in one place."""
    default = getattr(DEFAULTS, name)
    if kw.get("is_flag"):
        return click.option(*decls, name, default=default, **kw)
    return click.option(*decls, name, default=default, show_default=True, **kw)


@main.command()
@click.option("--masks", type=click.Path(exists=True, dir_okay=False),
              help="A masks.npz (from `ylg-masks export`): YLG attention with these masks.")
@_config_option("attention", "--attention", type=click.Choice(attention_variants()),
                help="none, dense (SAGAN: 1 head), dense8 (8 dense heads), or a YLG preset "
                     "built at the model's grids.")
@_config_option("attention_resolution", "--attention-resolution", type=int,
                help="Feature grid of the attention layer (default: 16 at 32, 32 at 64 and 128).")
@_config_option("backend", "--backend", type=click.Choice(["auto", "dense", "sparse"]),
                help="How a masked attention layer runs (auto: sparse where it pays).")
@_config_option("data", "--data", help="digits (embedded), an image folder, or an .npz.")
@_config_option("channels", "--channels", type=click.Choice(["1", "3"]),
                help="Image channels (default: the data's own; digits are grey).")
@out_option("Run folder (config, log, samples, checkpoint).")
@_config_option("steps", "--steps", type=int, help="Generator steps.")
@_config_option("batch_size", "--batch-size", type=int, help="Global batch size.")
@_config_option("resolution", "--resolution", type=click.Choice(["32", "64", "128"]),
                help="Image resolution.")
@_config_option("width", "--width", type=int,
                help="Channel multiplier (the paper's 64; 16 trains on a CPU).")
@_config_option("d_steps", "--d-steps", type=int, help="D steps per G step.")
@_config_option("lr_g", "--lr-g", type=float, help="Adam learning rate of G.")
@_config_option("lr_d", "--lr-d", type=float, help="Adam learning rate of D.")
@_config_option("ema_decay", "--ema-decay", type=float, help="EMA decay of G's weights.")
@_config_option("diffaugment", "--diffaugment",
                help="DiffAugment policies, e.g. color,translation,cutout (default: none).")
@seed_option(DEFAULTS.seed)
@device_option(DEFAULTS.device)
@_config_option("amp", "--amp", is_flag=True, help="bfloat16 mixed precision (CUDA).")
@_config_option("log_every", "--log-every", type=int, help="Log every N steps.")
@_config_option("sample_every", "--sample-every", type=int, help="Save a sample grid every N steps.")
@_config_option("checkpoint_every", "--checkpoint-every", type=int,
                help="Write the checkpoint every N steps.")
@_config_option("tensorboard", "--tensorboard", is_flag=True,
                help="Also log to RUN_DIR/tensorboard (needs tensorboard).")
@click.option("--resume", is_flag=True,
              help="Continue from RUN_DIR/checkpoint.pt (its config; --steps may grow).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def train(ctx, masks, resume, quiet, **options):
    """Train SAGAN or YLG-SAGAN; writes config, log.jsonl, samples/ and checkpoint.pt.

    Defaults are the paper's: hinge loss, one D step per G step, Adam (0, 0.999) with learning
    rates 1e-4 (G) and 4e-4 (D), z of 128, batch 64, EMA of G for samples.

    \b
    Examples:
      ylg train --attention ylg --width 16 --steps 2000 --out runs/ylg
      ylg-masks export --preset ylg --query-grid 16x16 --key-grid 8x8 -o masks.npz
      ylg train --masks masks.npz --width 16 --out runs/ylg
      ylg train --out runs/ylg --resume --steps 4000
      torchrun --nproc_per_node=8 -m cli.main train --masks masks.npz --resolution 128 --out runs/big
    """
    from click.core import ParameterSource
    from ylg.train import train as run

    if masks and ctx.get_parameter_source("attention") == ParameterSource.COMMANDLINE:
        raise click.UsageError("give --masks or --attention, not both")
    for key in ("channels", "resolution"):
        options[key] = None if options[key] is None else int(options[key])
    if masks:
        options["attention"] = masks
    given = {k for k in options if ctx.get_parameter_source(k) in
             (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    if masks:
        given.add("attention")
    if resume:
        result = run(TrainConfig(out=options["out"]), resume=True,
                     overrides={k: options[k] for k in given if k != "out"}, progress=not quiet)
    else:
        result = run(TrainConfig.from_dict(options), progress=not quiet)
    click.echo(f"step {result.step}: {result.run_dir / 'checkpoint.pt'}")


@main.command()
@checkpoint_option()
@click.option("--classes", default=None, help="Classes to draw, e.g. 0,3,7 (default: all).")
@click.option("--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("--weights", type=click.Choice(["ema", "g"]), default="ema", show_default=True,
              help="The EMA of G's weights, or G's own.")
@seed_option()
@device_option()
@out_option("Output PNG.")
def sample(checkpoint, classes, n, weights, seed, device, out):
    """Draw a grid of class-conditional samples (one class per row block, in order).

    \b
    Example:
      ylg sample --checkpoint runs/ylg/checkpoint.pt --classes 0,3,7 --n 63 -o grid.png
    """
    from ylg.sample import load_generator, parse_classes, sample as draw
    from ylg.train import resolve_device
    from ylg.viz import save_image_grid

    G, _ = load_generator(checkpoint, weights=weights, device=resolve_device(device))
    classes = parse_classes(classes, G.num_classes)
    x = draw(G, classes=classes, n=n, seed=seed)
    per_class = -(-n // len(classes))
    nrow = per_class if per_class <= 16 else None
    path = save_image_grid(x, out, nrow=nrow, scale=max(1, 64 // x.shape[-1]))
    click.echo(f"{n} samples of class(es) {','.join(map(str, classes))}: {path}")


@main.command()
@checkpoint_option()
@click.option("--class", "label", type=int, required=True, help="The class to walk in.")
@click.option("--rows", type=int, default=4, show_default=True, help="Number of walks.")
@click.option("--steps", type=int, default=8, show_default=True, help="Images per walk.")
@click.option("--weights", type=click.Choice(["ema", "g"]), default="ema", show_default=True,
              help="The EMA of G's weights, or G's own.")
@seed_option()
@device_option()
@out_option("Output PNG.")
def interpolate(checkpoint, label, rows, steps, weights, seed, device, out):
    """A latent walk: straight lines in z between random end points, one walk per row.

    \b
    Example:
      ylg interpolate --checkpoint runs/ylg/checkpoint.pt --class 3 -o walk.png
    """
    from ylg.sample import latent_walk, load_generator
    from ylg.train import resolve_device
    from ylg.viz import save_image_grid

    G, _ = load_generator(checkpoint, weights=weights, device=resolve_device(device))
    x = latent_walk(G, label=label, rows=rows, steps=steps, seed=seed)
    path = save_image_grid(x, out, nrow=steps, scale=max(1, 64 // x.shape[-1]))
    click.echo(f"{rows} walk(s) of {steps} images, class {label}: {path}")


if __name__ == "__main__":
    main()
