"""What the full tier costs: download sizes and CPU training times, one table for the lessons'
banners and the README. Data only: no code, no imports.

Every figure says where it comes from. Download sizes are the publishers' own figures
(torchvision's weight metadata, the dataset pages); training times were measured with
``scripts/time_full_tier.py``: ``course_tools.train.fit`` timed on the first N batches of a
format-true stand-in of the real size (random pixels), scaled to the real number of batches per
epoch. They are extrapolations from N batches, not timed epochs, and the machine they were
measured on was shared with other jobs (its load average is recorded): on an idle machine of the
same kind expect them to be shorter. No GPU time has been measured here.

Units: ``download_mib`` in MiB (2**20 bytes, what torchvision's ``_file_size`` records and
``torch.hub`` shows while downloading), ``download_mb`` in MB (10**6 bytes);
``*_min*`` in minutes of wall-clock time.
"""

# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------
DOWNLOADS = {
    "mnist": {
        "what": "MNIST: the four gzipped IDX files (torchvision.datasets.MNIST downloads them)",
        "download_bytes": 11_594_722,
        "download_mb": 11.6,
        "download_mib": 11.06,
        "files": {"train-images-idx3-ubyte.gz": 9_912_422, "train-labels-idx1-ubyte.gz": 28_881,
                  "t10k-images-idx3-ubyte.gz": 1_648_877, "t10k-labels-idx1-ubyte.gz": 4_542},
        "source": "byte sizes listed on http://yann.lecun.com/exdb/mnist/ (the files whose md5 "
                  "torchvision.datasets.MNIST.resources checks; torchvision records no size)",
    },
    "cifar10": {
        "what": "CIFAR-10 python version, cifar-10-python.tar.gz",
        "download_bytes": 170_498_071,
        "download_mb": 170.5,
        "download_mib": 162.6,
        "source": "https://www.cs.toronto.edu/~kriz/cifar.html lists the python version as "
                  "'163 MB' with md5 c58f30108f718f92721af3b95e74349a, the md5 that "
                  "torchvision.datasets.CIFAR10.tgz_md5 checks; the exact byte count is the "
                  "file's Content-Length as served (170,498,071, seen in public download logs). "
                  "torchvision records no size.",
    },
    "food11": {
        "what": "food-11 (16,643 JPEG photos: 9,866 training / 3,430 validation / 3,347 "
                "evaluation); placed by hand, never downloaded by the course",
        "download_bytes": None,
        "download_mb": None,
        "download_mib": None,
        "source": "no authoritative size found offline: copies differ (EPFL's Food-11, the "
                  "homework's food-11.zip, Kaggle mirrors)",
    },
    "resnet18": {
        "what": "torchvision ResNet-18 ImageNet weights, resnet18-f37072fd.pth (IMAGENET1K_V1)",
        "download_mib": 44.661,
        "download_mb": 46.8,
        "source": "torchvision 0.29.1, ResNet18_Weights.IMAGENET1K_V1.meta['_file_size'] "
                  "(MiB; MB = MiB x 1.048576)",
    },
    "vgg19": {
        "what": "torchvision VGG-19 ImageNet weights, vgg19-dcbb9e9d.pth (IMAGENET1K_V1)",
        "download_mib": 548.051,
        "download_mb": 574.7,
        "source": "torchvision 0.29.1, VGG19_Weights.IMAGENET1K_V1.meta['_file_size'] "
                  "(MiB; MB = MiB x 1.048576)",
    },
    "vgg16": {
        "what": "torchvision VGG-16 ImageNet weights, vgg16-397923af.pth (IMAGENET1K_V1)",
        "download_mib": 527.796,
        "download_mb": 553.4,
        "source": "torchvision 0.29.1, VGG16_Weights.IMAGENET1K_V1.meta['_file_size'] "
                  "(MiB; MB = MiB x 1.048576)",
    },
    "squeezenet1_1": {
        "what": "torchvision SqueezeNet 1.1 ImageNet weights, squeezenet1_1-b8a52dc0.pth "
                "(IMAGENET1K_V1)",
        "download_mib": 4.729,
        "download_mb": 4.96,
        "source": "torchvision 0.29.1, SqueezeNet1_1_Weights.IMAGENET1K_V1.meta['_file_size'] "
                  "(MiB; MB = MiB x 1.048576)",
    },
}

# --------------------------------------------------------------------------------------------
# Training on a CPU (course train NAME --tier full)
# --------------------------------------------------------------------------------------------
# Headline: the shortest wall-clock time of three runs of scripts/time_full_tier.py on
# 2026-12-02 (x86_64 AMD EPYC, 2 cores, torch 2.14.1 CPU), each figure extrapolated from the
# number of batches named. The machine was shared with other jobs throughout (load average 2 to
# 13 on its 2 cores), which slows 2-thread runs most (their threads wait for each other): on
# this shared machine the 1-thread run was often the fastest. Raw results, with each run's load
# average: benchmarks/full_tier_timing/*.json. "min_recipe" = epochs x min_per_epoch + one
# evaluation pass, i.e. one `course train NAME --tier full`.
MEASURED = {
    "date": "2026-12-02",
    "machine": "x86_64 AMD EPYC, 2 cores, torch 2.14.1 (CPU), shared with other jobs",
    "script": "scripts/time_full_tier.py",
    "method": "course_tools.train.fit timed on the first N batches (after 2 warm-up batches) "
              "of a format-true stand-in of the real size with random pixels, scaled to the "
              "real number of batches per epoch: an extrapolation from N batches",
    "gpu": None,  # not measured: no GPU was available
}

TRAINING = {
    "simple_cnn": {
        "command": "course train simple_cnn --tier full",
        "data": "CIFAR-10: 50,000 training images 32x32 (781 batches of 64), 10,000 test",
        "epochs": 15,
        "cpu_min_per_epoch": 1.3,
        "cpu_min_eval": 0.15,
        "cpu_min_recipe": 19.4,
        "threads": 1,
        "batches_timed": 12,
        "s_per_batch": 0.098,
        "load_average": "3.8 (1-minute, during the run)",
        "other_runs": "2 threads: 0.207 s/batch (2.7 min/epoch) at load 2.1; 1.17 s/batch "
                      "(15.2 min/epoch) at load 12.8",
        "required": "yes: lesson 06's SimpleCNN on real CIFAR-10",
    },
    "food11_classifier": {
        "command": "course train food11_classifier --tier full",
        "data": "food-11: 9,866 training photos (512x384 JPEGs assumed; decoded and resized to "
                "128x128 on every read: 308 batches of 32), 3,347 evaluation photos",
        "architecture": "the recipe's Classifier with widths / 8 (16, 16, 32, 64, 64)",
        "epochs": 4,
        "cpu_min_per_epoch": 9.8,
        "cpu_min_eval": 1.8,
        "cpu_min_recipe": 41.1,
        "threads": 1,
        "batches_timed": 12,
        "s_per_batch": 1.914,
        "data_share_s_per_batch": 0.125,
        "load_average": "4.0 to 4.3 (1-minute, during the run)",
        "other_runs": "2 threads: 4.17 s/batch (21.4 min/epoch) at load 2.1 to 3.8; 8.62 "
                      "s/batch (44.2 min/epoch) at load 10.6 to 12.0",
        "required": "yes (or import the homework's own checkpoint instead: "
                    "course import-homework-checkpoint PATH)",
    },
    "food11_classifier_full_width": {
        "command": "none: the homework's full-width Classifier, for comparison (import the "
                   "homework's checkpoint.pth rather than training it on a CPU)",
        "data": "as food11_classifier",
        "architecture": "the homework's Classifier (128, 128, 256, 512, 512 channels)",
        "epochs": None,
        "cpu_min_per_epoch": 116.0,
        "cpu_min_eval": 11.7,
        "cpu_min_recipe": None,
        "threads": 1,
        "batches_timed": 2,
        "s_per_batch": 22.5,
        "load_average": "3.3 to 4.3 (1-minute, during the run)",
        "other_runs": "2 threads: 40.2 s/batch (207 min/epoch) at load 3.8 to 4.9; 35.6 "
                      "s/batch (183 min/epoch) at load 6.3 to 10.6",
        "required": "no",
    },
    "mnist_cnn": {
        "command": "course train mnist_cnn --tier full",
        "data": "MNIST: 60,000 training digits 28x28 (937 batches of 64), 10,000 test",
        "epochs": 60,
        "cpu_min_per_epoch": 0.96,
        "cpu_min_eval": 0.04,
        "cpu_min_recipe": 57.6,
        "threads": 2,
        "batches_timed": 12,
        "s_per_batch": 0.0617,
        "load_average": "2.1 (1-minute, during the run)",
        "other_runs": "1 thread: 0.131 s/batch (2.0 min/epoch) at load 3.8",
        "required": "no: the committed checkpoint was trained on real MNIST digits and serves "
                    "the full tier (the recipe's 60 epochs were chosen for 4,000 digits)",
    },
    "mnist_dnn": {
        "command": "course train mnist_dnn --tier full",
        "data": "MNIST: 60,000 training digits 28x28 (937 batches of 64), 10,000 test",
        "epochs": 20,
        "cpu_min_per_epoch": 0.06,
        "cpu_min_eval": 0.0,
        "cpu_min_recipe": 1.2,
        "threads": 2,
        "batches_timed": 12,
        "s_per_batch": 0.0039,
        "load_average": "2.1 (1-minute, during the run)",
        "other_runs": "1 thread: 0.009 s/batch (0.14 min/epoch) at load 3.8",
        "required": "no: the committed checkpoint was trained on real MNIST digits and serves "
                    "the full tier",
    },
}

# Opening a food-11 folder reads every image's header once (PIL's Image.open(...).mode, no
# decoding) to count the files to convert to RGB: 0.06 to 0.35 ms per file in the three runs
# above, i.e. 1 to 6 s for all 16,643 files of the three folders.
FOOD11_HEADER_SCAN_S_PER_FILE = (0.00006, 0.00035)
