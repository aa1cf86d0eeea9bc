"""`retina-tf pretrained`: ImageNet weights -> a backbone checkpoint for `retina-tf train --init-checkpoint`."""

from retina_tf.commands import arguments
from retina_tf.utils import storage

DESCRIPTION = """\
Writes a ResNet backbone checkpoint (tf.train.Checkpoint(backbone=...), what
--init-checkpoint with --init-modules backbone restores) from ImageNet weights:

  a Model Garden classification checkpoint (ResNet-18/34/50/101/152, a
  checkpoint prefix or its folder); `retina-tf train --init-checkpoint` also
  takes one as it is;

  Keras Applications' ResNet50/101/152 .h5 weights, with or without top (the
  file tf_keras.applications.ResNet101(weights="imagenet") caches in
  ~/.keras/models/). Keras puts the stride of each stage on its first 1x1
  convolution, Model Garden on the 3x3: every layer maps, but the features
  from C3 on differ until fine-tuning adapts them. The command prints what
  did not map.

The ResNet depth is read from the source; train with the same
task.model.backbone.resnet.model_id (the paper's configs: 101).

examples:
  retina-tf pretrained ~/.keras/models/resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5 --out weights/r101
  retina-tf pretrained imagenet_resnet101/ckpt-312800 --out weights/r101
  retina-tf train --config configs/paper_1gpu.yaml --model-dir runs/paper --init-checkpoint weights/r101 ..."""


def add_arguments(parser):
    parser.add_argument("source", type=storage.path,
                        help="Model Garden classification checkpoint (prefix or folder) or Keras .h5 weights file")
    arguments.add_out(parser, "folder to write the backbone checkpoint into (pass it to --init-checkpoint)", "DIR")


def run(args):
    from retina_tf.modeling import pretrained  # noqa: PLC0415  TensorFlow loads when the command runs, not for --help

    source = str(args.source)
    if source.endswith((".h5", ".hdf5")):
        conversion, kind = pretrained.from_keras_h5(args.source), "Keras Applications weights"
    else:
        conversion, kind = pretrained.from_classification_checkpoint(args.source), "Model Garden checkpoint"
    print(f"ResNet-{conversion.model_id} from the {kind} {source}: "
          f"{conversion.mapped} of {len(conversion.backbone.variables)} backbone variables set")
    for line in conversion.not_mapped:
        print(f"  {line}")
    prefix = pretrained.write(conversion.backbone, args.out)
    print(f"wrote {prefix}")
    print(f"train from it: retina-tf train --init-checkpoint {args.out} "
          f"(with task.model.backbone.resnet.model_id={conversion.model_id})")
