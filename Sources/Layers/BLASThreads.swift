import BLAS
import WorkerPool

/// OpenBLAS is kept to one thread: each worker runs single-threaded products on its own share
/// of a batch. Measured on 2 cores, OpenBLAS's own threading of these thin products scaled
/// poorly, and its idle worker spun while the main thread did the serial work.
private let singleThreadedBLAS: Void = { BLAS.threads = 1 }()

extension Workers {
    /// `Workers.run` for shares that call BLAS.
    static func runProducts(over total: Int, _ body: (Int, Range<Int>) -> Void) {
        _ = singleThreadedBLAS
        run(over: total, body)
    }
}
