/// mlpconv's native HDF5 layout (`schemas/hdf5-layout.md`): a model document as plain HDF5 that h5py and
/// h5dump read without our code.
///
///     /                      @format = "mlpconv-model", @format_version = 1 (int64),
///                            @architecture = JSON text (the JSON codec's architecture object), @architecture_crc32c,
///                            @attributes_crc32c (every attribute of /, /metadata, /optimizer and /training)
///     /weights/<layer>/<variable>   one dataset per tensor of the layer (kernel [in, units], bias [units],
///                            gamma/beta/moving_mean/moving_variance [features]), float32|float64, @crc32c
///     /optimizer             @name, @iterations, one attribute per hyperparameter (Keras's keys),
///                            @boolean_hyperparameters, @null_hyperparameters
///     /optimizer/<slot>/<layer>/<variable>   one per trainable tensor, @crc32c
///     /training              @loss, @epochs_completed, @random_state (4 × uint64, optional)
///     /training/history      scalar UTF-8 string dataset: the history JSON text, @crc32c
///     /metadata              one string attribute per entry
///
/// Reading treats the file as hostile: links, external storage and virtual datasets are refused; every
/// dataset's shape is compared with the architecture, its type must be IEEE float32/float64 little-endian, and
/// its decoded size is checked against the limits and the file before anything is allocated; every tensor and
/// text is checked against its stored CRC-32C, because HDF5 itself reads flipped bytes back as different data, and
/// so are the groups' attributes (`attributesChecksum`; files written before it existed have none, and load).
/// An attribute the layout does not define is refused wherever it appears.
package enum HDF5ModelCodec {
    /// The names of groups, datasets and attributes in the file.
    package enum Name {
        package static let format = "format"
        package static let formatVersion = "format_version"
        package static let architecture = "architecture"
        package static let architectureChecksum = "architecture_crc32c"
        package static let checksum = "crc32c"
        package static let weights = "weights"
        package static let optimizer = "optimizer"
        package static let training = "training"
        package static let metadata = "metadata"
        package static let optimizerName = "name"
        package static let iterations = "iterations"
        package static let booleanHyperparameters = "boolean_hyperparameters"
        package static let nullHyperparameters = "null_hyperparameters"
        /// Lists the optimizer-level scalars (`u_product`), each stored as an attribute of its own.
        package static let scalars = "scalars"
        package static let loss = "loss"
        package static let epochsCompleted = "epochs_completed"
        package static let randomState = "random_state"
        package static let history = "history"
        package static let attributesChecksum = "attributes_crc32c"

        /// The attributes each group may carry (`/optimizer`'s are its configuration's keys, `/metadata`'s any).
        package static let rootAttributes: Set<String> = [format, formatVersion, architecture, architectureChecksum,
                                                          attributesChecksum]
        package static let trainingAttributes: Set<String> = [loss, epochsCompleted, randomState]
        /// The groups whose attributes `attributesChecksum` covers, in the order they are hashed.
        package static let checksummedGroups = ["/", "/\(metadata)", "/\(optimizer)", "/\(training)"]

        /// `/optimizer` attributes that are not hyperparameters.
        package static let optimizerReserved: Set<String> = [optimizerName, iterations, booleanHyperparameters,
                                                             nullHyperparameters, scalars]
    }

    /// The history text's cap (a million epochs of a few metrics is about 64 MiB).
    package static let maxHistoryBytes = 64 << 20
}
