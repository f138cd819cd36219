// swift-tools-version:6.0
//
// MelForge: audio -> spectrogram -> model -> spectrogram -> vocoder -> audio.
//
// The targets show the pipeline. Each C library is reached through one small
// `systemLibrary` shim, and each shim is imported by exactly one Swift module:
//
//   CSndFile, CSoxr -> AudioIO      read/resample/write audio (libsndfile, libsoxr)
//   CFFTW,          -> Spectral     windows, STFT/iSTFT, mel filter bank, dB scaling, and the
//   CSpectralKernels                vocoder (NNLS mel inversion, Griffin-Lim); C hot loops
//   CPNG,           -> FileFormats  .npy, safetensors, PNG pictures, atomic file output
//   CFileSystem                     (a C shim for the Linux calls Glibc does not import)
//   COpenBLAS       -> BLAS         sgemm and the BLAS kernel in use
//   CDNNL (C bridge)-> Layers       oneDNN's convolutions (the training engine, fp32 and bf16);
//   CLayerKernels                   C hot loops
//   CZlib           -> Datasets     gzip'd MNIST files (with PNG folders: images for the models)
//   CMPI (C bridge) -> Cluster      data-parallel training over Open MPI (mpirun, srun)
//   CFreeType       -> Pictures     figures with axes, colour bars and captions
//   CSignals        -> Pipeline     SIGTERM/SIGINT caught: long jobs stop at a safe point
//
// The generative core sees tensors [N, C, H, W] and nothing about audio:
//   Tensors -> Layers -> Optimizers -> Models (DCGAN, VAE, classifier) -> Training (the open
//   model family and its registry, resumable runs, classifier training, latent policies);
//   Evaluation scores what came out. WorkerPool holds the process's one thread count.
//
// Audio modules know nothing of neural networks. Pipeline is the application: it alone
// wires audio to models (the audio <-> image contract, data loading, batch conversion,
// training sessions, judging, rewards, pages). `melforge` is a thin ArgumentParser layer
// over it, the one target that imports ArgumentParser.
import PackageDescription

// MARK: - System libraries (Debian packages)

let systemLibraries: [Target] = [
    .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
    .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
    .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
    .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // Data-parallel training across processes (mpirun, srun); only the training path uses it.
    .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    // oneDNN 2.6 (Debian ships no pkg-config file for it: the module map links dnnl).
    .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
    // Text in pictures; the font itself comes from fonts-dejavu-core.
    .systemLibrary(name: "CFreeType", pkgConfig: "freetype2", providers: [.apt(["libfreetype-dev", "fonts-dejavu-core"])]),
]

// MARK: - Libraries

let libraries: [Target] = [
    // Open MPI's handles are macros Swift cannot import: plain C functions over them.
    .target(name: "CMPIBridge", dependencies: ["CMPI"]),
    // The job mpirun started: the replicas' sums, its ranks and its end.
    .target(name: "Cluster", dependencies: ["CMPIBridge", "Layers"]),
    // The process's one thread-count setting (MELFORGE_THREADS, convert --jobs) and its workers.
    .target(name: "WorkerPool"),
    .target(name: "CFileSystem"),
    .target(name: "FileFormats", dependencies: ["CPNG", "CFileSystem"]),
    .target(name: "AudioIO", dependencies: ["CSndFile", "CSoxr", "FileFormats"]),
    // Vectorised hot loops of Spectral (one build per CPU level, picked at run time).
    .target(name: "CSpectralKernels"),
    .target(name: "Spectral", dependencies: ["CFFTW", "CSpectralKernels", "WorkerPool"]),
    .target(name: "BLAS", dependencies: ["COpenBLAS"]),
    // oneDNN's convolutions behind plain C functions (its C API's handles and macros stay in C).
    .target(name: "CDNNLBridge", dependencies: ["CDNNL", "CLayerKernels"], linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
    // Pictures a person reads: heat maps with axes, ticks, colour bars, titles and captions
    // (text through FreeType). Knows pictures, not audio.
    .target(name: "Pictures", dependencies: ["CFreeType", "FileFormats"]),
    // The generative core: it sees tensors [N, C, H, W] and knows nothing about audio.
    .target(name: "Tensors"),
    .target(name: "CLayerKernels"),
    .target(name: "Layers", dependencies: ["Tensors", "BLAS", "FileFormats", "WorkerPool", "CDNNLBridge", "CLayerKernels"]),
    .target(name: "Optimizers", dependencies: ["Tensors", "Layers", "FileFormats", "WorkerPool"]),
    .target(name: "Models", dependencies: ["Tensors", "Layers", "Optimizers"]),
    // Reproducible, resumable training runs over a set of images.
    .target(name: "Training", dependencies: ["Tensors", "Layers", "Optimizers", "Models", "FileFormats"]),
    // Scores of generated sets (Inception score, Frechet distance, nearest neighbours):
    // numbers, no models.
    .target(name: "Evaluation", dependencies: ["BLAS"]),
    // Image data sets for the models (MNIST IDX files, folders of PNGs): tensors, no audio.
    .target(name: "Datasets", dependencies: ["Tensors", "FileFormats", "CZlib"]),
]

// MARK: - The application

let application: [Target] = [
    // The learned vocoder: a ConvNeXt on the shared core that predicts spectra, trained
    // through the inverse STFT; wires the audio side (Spectral) to the generative core.
    .target(
        name: "NeuralVocoder",
        dependencies: ["Spectral", "BLAS", "Tensors", "Layers", "Optimizers", "Models", "Training", "FileFormats", "WorkerPool"]),
    // Audio <-> model images, data loading, convert, training/steering sessions, the judge,
    // rewards, clip pages: everything the commands do, testable without the binary.
    // SIGTERM and SIGINT caught so that long jobs stop at a safe point (Pipeline's Preemption).
    .target(name: "CSignals"),
    .target(
        name: "Pipeline",
        dependencies: [
            "AudioIO", "Spectral", "FileFormats", "Pictures", "BLAS", "Tensors", "Layers", "Optimizers", "Models",
            "Training", "Datasets", "Evaluation", "WorkerPool", "NeuralVocoder", "CSignals",
        ]),
]

// MARK: - Command-line tool

let tool: [Target] = [
    .executableTarget(
        name: "melforge",
        dependencies: [
            "Pipeline", "AudioIO", "Spectral", "FileFormats", "Tensors", "Models", "Training", "WorkerPool", "Cluster",
            "Layers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    // Measures and prints; never part of the tests (Scripts/bench-frontend.sh runs it).
    // Every parser of outside bytes as a function (the tests replay their corpora), and the
    // libFuzzer target over them (Scripts/fuzz.sh builds it with -sanitize=fuzzer).
    .target(name: "FuzzTargets", dependencies: ["AudioIO", "Datasets", "FileFormats", "NeuralVocoder", "Pipeline", "Spectral",
                                                "Training"]),
    .executableTarget(name: "melforge-fuzz", dependencies: ["FuzzTargets"]),
    .executableTarget(name: "melforge-bench", dependencies: ["AudioIO", "Spectral", "BLAS", "WorkerPool", "Layers", "Tensors", "NeuralVocoder"]),
]

// MARK: - Tests

let tests: [Target] = [
    .target(name: "TestSupport", dependencies: ["Layers", "Tensors"], path: "Tests/TestSupport"),
    .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "TestSupport"], resources: [.copy("Fixtures")]),
    .testTarget(name: "AudioIOTests", dependencies: ["AudioIO", "FileFormats", "TestSupport"]),
    .testTarget(
        name: "SpectralTests", dependencies: ["Spectral", "AudioIO", "FileFormats", "TestSupport"],
        resources: [.copy("Fixtures")]),
    .testTarget(name: "BLASTests", dependencies: ["BLAS", "TestSupport"]),
    .testTarget(name: "PicturesTests", dependencies: ["Pictures", "FileFormats"]),
    .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
    .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "FileFormats", "TestSupport"]),
    .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Layers", "Tensors", "TestSupport"]),
    .testTarget(
        name: "TrainingTests", dependencies: ["Training", "Models", "Layers", "Optimizers", "Tensors", "FileFormats", "TestSupport"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors", "FileFormats", "TestSupport"]),
    .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "TestSupport"]),
    .testTarget(
        name: "PipelineTests",
        dependencies: [
            "Pipeline", "AudioIO", "Spectral", "FileFormats", "Pictures", "Tensors", "Training", "Models", "WorkerPool",
            "NeuralVocoder", "TestSupport",
        ]),
    .testTarget(
        name: "NeuralVocoderTests",
        dependencies: ["NeuralVocoder", "Spectral", "Layers", "Tensors", "FileFormats", "TestSupport"]),
    .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets", "TestSupport"]),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "Optimizers", "Layers", "Tensors", "TestSupport"]),
    .testTarget(
        name: "MelForgeCLITests", dependencies: ["melforge", "FileFormats", "AudioIO", "BLAS", "TestSupport"]),
]

let package = Package(
    name: "MelForge",
    products: [
        .executable(name: "melforge", targets: ["melforge"]),
        .library(name: "AudioIO", targets: ["AudioIO"]),
        .library(name: "Spectral", targets: ["Spectral"]),
        .library(name: "FileFormats", targets: ["FileFormats"]),
        .library(name: "BLAS", targets: ["BLAS"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: systemLibraries + libraries + application + tool + tests
)
