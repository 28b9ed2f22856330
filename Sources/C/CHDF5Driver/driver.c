#include "mlp_hdf5_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    H5FD_t pub;  // must come first: HDF5 casts between the two
    int fd;
    haddr_t eoa;
    haddr_t eof;
    dev_t device;
    ino_t inode;
    int failure;  // errno of the first failed write or truncation; later ones are dropped
} StopOnFailureFile;

// sec2's address limit: the largest off_t.
#define MAX_ADDRESS ((haddr_t)(((haddr_t)1 << (8 * sizeof(off_t) - 1)) - 1))

static hid_t driver_id = H5I_INVALID_HID;

// The plain reason as the innermost entry of the error stack (sec2's message embeds buffer addresses and sizes).
static void push_errno(const char *function, int error) {
    H5Epush2(H5E_DEFAULT, __FILE__, function, __LINE__, H5E_ERR_CLS, H5E_VFL, H5E_WRITEERROR, "%s", strerror(error));
}

static H5FD_t *stop_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr) {
    (void)fapl;
    if (!name || !*name || maxaddr == 0 || maxaddr == HADDR_UNDEF || maxaddr > MAX_ADDRESS) return NULL;
    int mode = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & H5F_ACC_TRUNC) mode |= O_TRUNC;
    if (flags & H5F_ACC_CREAT) mode |= O_CREAT;
    if (flags & H5F_ACC_EXCL) mode |= O_EXCL;
    // O_CLOEXEC: a process spawned while the file is open must not inherit it.
    int fd = open(name, mode | O_CLOEXEC, 0666);
    if (fd < 0) {
        H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_FILE, H5E_CANTOPENFILE, "%s",
                 strerror(errno));
        return NULL;
    }
    struct stat status;
    if (fstat(fd, &status) < 0) {
        H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_FILE, H5E_BADFILE, "%s",
                 strerror(errno));
        close(fd);
        return NULL;
    }
    StopOnFailureFile *file = calloc(1, sizeof *file);
    if (!file) {
        close(fd);
        return NULL;
    }
    file->fd = fd;
    file->eof = (haddr_t)status.st_size;
    file->device = status.st_dev;
    file->inode = status.st_ino;
    return &file->pub;
}

static herr_t stop_close(H5FD_t *handle) {
    StopOnFailureFile *file = (StopOnFailureFile *)handle;
    // Data is made durable by the caller (fsync before rename); close(2) failing here changes nothing for it.
    close(file->fd);
    free(file);
    return 0;
}

static int stop_compare(const H5FD_t *a, const H5FD_t *b) {
    const StopOnFailureFile *x = (const StopOnFailureFile *)a, *y = (const StopOnFailureFile *)b;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
    return 0;
}

static herr_t stop_query(const H5FD_t *file, unsigned long *flags) {
    (void)file;
    // sec2's features that decide where HDF5 allocates: the same bytes as a sec2 file.
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE
             | H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_DEFAULT_VFD_COMPATIBLE;
    return 0;
}

static haddr_t stop_get_eoa(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const StopOnFailureFile *)file)->eoa;
}

static herr_t stop_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t address) {
    (void)type;
    ((StopOnFailureFile *)file)->eoa = address;
    return 0;
}

static haddr_t stop_get_eof(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const StopOnFailureFile *)file)->eof;
}

static herr_t stop_get_handle(H5FD_t *file, hid_t fapl, void **handle) {
    (void)fapl;
    *handle = file;
    return 0;
}

static herr_t stop_read(H5FD_t *handle, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size, void *buffer) {
    (void)type, (void)dxpl;
    StopOnFailureFile *file = (StopOnFailureFile *)handle;
    if (address == HADDR_UNDEF || address > MAX_ADDRESS || size > MAX_ADDRESS - address) return -1;
    unsigned char *out = buffer;
    while (size > 0) {
        ssize_t count = pread(file->fd, out, size, (off_t)address);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
            H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_VFL, H5E_READERROR, "%s",
                     strerror(errno));
            return -1;
        }
        if (count == 0) {  // past the end of the file: zeros, as sec2 gives
            memset(out, 0, size);
            break;
        }
        out += count;
        address += (haddr_t)count;
        size -= (size_t)count;
    }
    return 0;
}

static herr_t stop_write(H5FD_t *handle, H5FD_mem_t type, hid_t dxpl, haddr_t address, size_t size,
                         const void *buffer) {
    (void)type, (void)dxpl;
    StopOnFailureFile *file = (StopOnFailureFile *)handle;
    if (file->failure) return 0;
    if (address == HADDR_UNDEF || address > MAX_ADDRESS || size > MAX_ADDRESS - address) return -1;
    const unsigned char *in = buffer;
    haddr_t end = address + size;
    while (size > 0) {
        ssize_t count = pwrite(file->fd, in, size, (off_t)address);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) {
            file->failure = count < 0 ? errno : EIO;
            push_errno(__func__, file->failure);
            return -1;
        }
        in += count;
        address += (haddr_t)count;
        size -= (size_t)count;
    }
    if (end > file->eof) file->eof = end;
    return 0;
}

static herr_t stop_truncate(H5FD_t *handle, hid_t dxpl, hbool_t closing) {
    (void)dxpl, (void)closing;
    StopOnFailureFile *file = (StopOnFailureFile *)handle;
    if (file->failure || file->eoa == file->eof) return 0;
    if (ftruncate(file->fd, (off_t)file->eoa) < 0) {
        file->failure = errno;
        push_errno(__func__, file->failure);
        return -1;
    }
    file->eof = file->eoa;
    return 0;
}

static const H5FD_class_t stop_on_failure_class = {
    .name = "mlpconv_stop_on_failure",
    .maxaddr = MAX_ADDRESS,
    .fc_degree = H5F_CLOSE_WEAK,
    .open = stop_open,
    .close = stop_close,
    .cmp = stop_compare,
    .query = stop_query,
    .get_eoa = stop_get_eoa,
    .set_eoa = stop_set_eoa,
    .get_eof = stop_get_eof,
    .get_handle = stop_get_handle,
    .read = stop_read,
    .write = stop_write,
    .truncate = stop_truncate,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

herr_t mlp_H5Pset_fapl_stop_on_failure(hid_t fapl) {
    // Callers hold mlpconv's HDF5 lock, so registering once needs no lock of its own.
    if (driver_id < 0 || H5Iis_valid(driver_id) <= 0) driver_id = H5FDregister(&stop_on_failure_class);
    if (driver_id < 0) return -1;
    return H5Pset_driver(fapl, driver_id, NULL);
}

int mlp_stop_on_failure_errno(const void *handle) {
    return handle ? ((const StopOnFailureFile *)handle)->failure : 0;
}
