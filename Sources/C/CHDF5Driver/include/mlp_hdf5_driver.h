#ifndef MLPCONV_HDF5_DRIVER_H
#define MLPCONV_HDF5_DRIVER_H
#include <hdf5.h>

// A POSIX file driver for the files mlpconv writes, which stops writing after its first failure.
//
// HDF5 1.10 cannot survive a close that fails: when H5Fclose cannot flush (a full disk), it frees the file but
// keeps its id, and the library's exit handler (or any later call that walks the open files) then dereferences the
// freed memory. With this driver, the first failed write or truncation is reported as usual — with the plain
// reason (strerror) as the innermost entry of HDF5's error stack — and every later one is dropped and reported as
// done: the file is broken and its writer removes it, but closing it always succeeds. Files are byte-identical to
// those of HDF5's default sec2 driver (same allocation features, no driver info in the superblock).

/// Sets `fapl` to use the driver (registered on first use). Negative on failure.
herr_t mlp_H5Pset_fapl_stop_on_failure(hid_t fapl);

/// The errno of the open file's first failed write or truncation, 0 if none. `handle` comes from
/// H5Fget_vfd_handle on a file opened with the driver.
int mlp_stop_on_failure_errno(const void *handle);

#endif
