#if canImport(Glibc)
import Glibc
#endif

/// Training allocates the same large temporaries every step (im2col columns, layer outputs).
/// glibc serves allocations above 128 KiB with fresh mmap'd pages and returns them on free, so
/// every step paid for page faults and for the kernel zeroing pages. Raising the mmap and trim
/// thresholds keeps freed memory in the heap for the next step. (`mallopt` lives in
/// <malloc.h>, which Swift's Glibc module does not import, hence the lookup by name.)
func keepFreedMemory() {
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    _ = mallopt(mmapThreshold, 1 << 30)
    _ = mallopt(trimThreshold, 1 << 30)
}
