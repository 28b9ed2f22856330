#ifndef MLPCONV_CHDF5_SHIM_H
#define MLPCONV_CHDF5_SHIM_H
// Debian puts the serial HDF5 headers in /usr/include/hdf5/serial; pkg-config adds that folder.
#include <hdf5.h>

// Swift cannot import HDF5's "constants": most expand to `(H5OPEN H5T_NATIVE_FLOAT_g)` (a comma expression
// that also initialises the library), some are casts, and the `*_g` globals they read are mutable C globals,
// which Swift 6 rejects as not concurrency-safe. One getter per macro keeps all of that on the C side.

// Property lists and selections.
static inline hid_t mlp_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t mlp_H5S_ALL(void) { return H5S_ALL; }
static inline hsize_t mlp_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline hid_t mlp_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t mlp_H5L_SAME_LOC(void) { return H5L_SAME_LOC; }

// File access flags.
static inline unsigned mlp_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned mlp_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned mlp_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned mlp_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }

// Open-object counting (used to prove handles are closed).
static inline unsigned mlp_H5F_OBJ_ALL(void) { return H5F_OBJ_ALL; }
static inline unsigned mlp_H5F_OBJ_LOCAL(void) { return H5F_OBJ_LOCAL; }
static inline unsigned mlp_H5F_OBJ_FILE(void) { return H5F_OBJ_FILE; }
static inline unsigned mlp_H5F_OBJ_DATASET(void) { return H5F_OBJ_DATASET; }
static inline unsigned mlp_H5F_OBJ_GROUP(void) { return H5F_OBJ_GROUP; }
static inline unsigned mlp_H5F_OBJ_DATATYPE(void) { return H5F_OBJ_DATATYPE; }
static inline unsigned mlp_H5F_OBJ_ATTR(void) { return H5F_OBJ_ATTR; }

// Native (in-memory) types.
static inline hid_t mlp_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mlp_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mlp_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t mlp_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t mlp_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mlp_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t mlp_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }

// File (on-disk) types: always little-endian IEEE / two's complement, what h5py and Keras write.
static inline hid_t mlp_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t mlp_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t mlp_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t mlp_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t mlp_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t mlp_H5T_STD_U32LE(void) { return H5T_STD_U32LE; }
static inline hid_t mlp_H5T_STD_U64LE(void) { return H5T_STD_U64LE; }
// Big-endian IEEE floats: only to recognise standard layouts in files, never written.
static inline hid_t mlp_H5T_IEEE_F32BE(void) { return H5T_IEEE_F32BE; }
static inline hid_t mlp_H5T_IEEE_F64BE(void) { return H5T_IEEE_F64BE; }

// Strings.
static inline hid_t mlp_H5T_C_S1(void) { return H5T_C_S1; }
static inline size_t mlp_H5T_VARIABLE(void) { return H5T_VARIABLE; }

// "No address" (H5Dget_offset of chunked, compact or unallocated data).
static inline haddr_t mlp_HADDR_UNDEF(void) { return HADDR_UNDEF; }

// Property list classes.
static inline hid_t mlp_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t mlp_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t mlp_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t mlp_H5P_DATASET_ACCESS(void) { return H5P_DATASET_ACCESS; }
static inline hid_t mlp_H5P_DATASET_XFER(void) { return H5P_DATASET_XFER; }
static inline hid_t mlp_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t mlp_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t mlp_H5P_LINK_ACCESS(void) { return H5P_LINK_ACCESS; }
static inline hid_t mlp_H5P_GROUP_ACCESS(void) { return H5P_GROUP_ACCESS; }
static inline hid_t mlp_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }

// Filters (plain ints in C, but typed here so Swift sees H5Z_filter_t).
static inline H5Z_filter_t mlp_H5Z_FILTER_DEFLATE(void) { return H5Z_FILTER_DEFLATE; }
static inline H5Z_filter_t mlp_H5Z_FILTER_SHUFFLE(void) { return H5Z_FILTER_SHUFFLE; }
static inline H5Z_filter_t mlp_H5Z_FILTER_FLETCHER32(void) { return H5Z_FILTER_FLETCHER32; }

// Which fields H5Oget_info_by_name2 fills in (basic = type/address only: no attribute or header walk).
static inline unsigned mlp_H5O_INFO_BASIC(void) { return H5O_INFO_BASIC; }
static inline unsigned mlp_H5O_INFO_NUM_ATTRS(void) { return H5O_INFO_NUM_ATTRS; }

// The library version actually loaded (the headers may differ from the .so).
static inline void mlp_H5_version(unsigned *major, unsigned *minor, unsigned *release) {
    H5get_libversion(major, minor, release);
}
#endif
