"""Prints how many of a file's (or block device's) pages in the page cache are dirty: written, not yet on the disk.

Maps the file, touches each page (a read fault maps the page cache's own page), looks up each page's frame in
/proc/self/pagemap and its flags in /proc/kpageflags (KPF_DIRTY, bit 4). Needs root (frame numbers are hidden
otherwise). Used by test/interop/usb-filesystems.test.ts: what a FUSE daemon wrote is durable once none is dirty.
"""
import ctypes
import mmap
import os
import struct
import sys

PAGE = mmap.PAGESIZE
KPF_DIRTY = 1 << 4


def dirty_pages(path: str) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        pages = size // PAGE
        if pages == 0:
            return 0
        # MAP_PRIVATE + PROT_WRITE only so ctypes can take the address; nothing is written, so no page is copied.
        m = mmap.mmap(fd, pages * PAGE, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for i in range(pages):
        m[i * PAGE]  # fault the page in
    dirty = 0
    with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
        pm.seek(addr // PAGE * 8)
        entries = pm.read(pages * 8)
        for i in range(pages):
            e = struct.unpack_from("<Q", entries, i * 8)[0]
            pfn = e & ((1 << 55) - 1)
            if not e >> 63 or pfn == 0:
                raise SystemExit(f"{path}: page {i} has no frame number (not root?)")
            kf.seek(pfn * 8)
            if struct.unpack("<Q", kf.read(8))[0] & KPF_DIRTY:
                dirty += 1
    return dirty


if __name__ == "__main__":
    print(dirty_pages(sys.argv[1]))
