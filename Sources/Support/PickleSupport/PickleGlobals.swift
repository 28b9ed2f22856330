/// The globals torch 2.15's weights-only unpickler allows (`torch/_weights_only_unpickler.py`,
/// `_get_allowed_globals`), as mlpconv knows them. A global outside this list is refused when it is named; a
/// few torch allows but mlpconv has no value for (quantized, sparse and subclass tensors, legacy tensor
/// classes) are refused as unsupported.
enum PickleGlobal: Hashable {
    case orderedDict, counter, parameterClass, tensorClass, sizeClass, deviceClass, getLayout
    case codecsEncode, bytearrayClass, setClass, complexClass
    case dtype(TorchDType)
    /// `torch.FloatStorage`, `torch.cuda.FloatStorage`, `torch.storage.UntypedStorage` (bytes: uint8).
    case storageClass(TorchDType)
    case rebuildTensor, rebuildTensorV2, rebuildParameter, rebuildParameterWithState

    var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .counter: "collections.Counter"
        case .parameterClass: "torch.nn.parameter.Parameter"
        case .tensorClass: "torch.Tensor"
        case .sizeClass: "torch.Size"
        case .deviceClass: "torch.device"
        case .getLayout: "torch.serialization._get_layout"
        case .codecsEncode: "_codecs.encode"
        case .bytearrayClass: "builtins.bytearray"
        case .setClass: "builtins.set"
        case .complexClass: "builtins.complex"
        case .dtype(let dtype): dtype.qualifiedName
        case .storageClass(let dtype): dtype.storageClassName.map { "torch." + $0 } ?? "torch.storage.UntypedStorage"
        case .rebuildTensor: "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        }
    }

    /// Module renames torch applies to protocol-2 pickles written by Python 2 (`torch._utils.IMPORT_MAPPING`).
    private static let importMapping: [String: String] = [
        "__builtin__": "builtins", "copy_reg": "copyreg", "Queue": "queue", "repr": "reprlib",
        "_abcoll": "collections.abc", "UserDict": "collections", "UserList": "collections",
        "UserString": "collections", "whichdb": "dbm", "StringIO": "io", "cStringIO": "io",
    ]

    private static let fixed: [String: PickleGlobal] = {
        var table: [String: PickleGlobal] = [:]
        for global: PickleGlobal in [.orderedDict, .counter, .parameterClass, .tensorClass, .sizeClass, .deviceClass,
                                     .getLayout, .codecsEncode, .bytearrayClass, .setClass, .complexClass,
                                     .rebuildTensor, .rebuildTensorV2, .rebuildParameter, .rebuildParameterWithState] {
            table[global.qualifiedName] = global
        }
        for dtype in TorchDType.allCases {
            table[dtype.qualifiedName] = .dtype(dtype)
            if let storage = dtype.storageClassName {
                table["torch." + storage] = .storageClass(dtype)
                // CUDA storage classes exist only for the non-quantized dtypes.
                if !storage.hasPrefix("Q") { table["torch.cuda." + storage] = .storageClass(dtype) }
            }
        }
        table["torch.storage.UntypedStorage"] = .storageClass(.uint8)
        return table
    }()

    /// Globals torch allows whose values mlpconv does not model, with what they are.
    private static let unsupported: [String: String] = {
        var table: [String: String] = [
            "torch._utils._rebuild_qtensor": "a quantized tensor",
            "torch._utils._rebuild_sparse_tensor": "a sparse tensor",
            "torch._utils._rebuild_tensor_v3": "a tensor of a dtype without a legacy storage class",
            "torch._utils._rebuild_meta_tensor_no_storage": "a meta tensor without storage",
            "torch._utils._rebuild_wrapper_subclass": "a tensor subclass",
            "torch._utils._rebuild_device_tensor_from_numpy": "a tensor rebuilt from numpy",
            "torch._utils._rebuild_device_tensor_from_cpu_tensor": "a device tensor",
            "torch._tensor._rebuild_from_type_v2": "a tensor subclass or a tensor with attributes",
            "torch.storage.TypedStorage": "a TypedStorage object",
        ]
        for scheme in ["per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                       "per_channel_affine_float_qparams"] {
            table["torch." + scheme] = "a quantization scheme"
        }
        for prefix in ["torch.", "torch.cuda.", "torch.sparse.", "torch.cuda.sparse."] {
            for name in ["BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short"] {
                table[prefix + name + "Tensor"] = "a legacy tensor class"
            }
        }
        return table
    }()

    /// Modules torch refuses even when a caller allow-lists them.
    private static let blockedModules: Set<String> = ["sys", "os", "posix", "nt"]

    enum Resolution {
        case allowed(PickleGlobal)
        case unsupported(String, what: String)
        case disallowed(String)
    }

    static func resolve(module rawModule: String, name: String) -> Resolution {
        let module = importMapping[rawModule] ?? rawModule
        let path = module + "." + name
        if blockedModules.contains(module) { return .disallowed(path) }
        if let global = fixed[path] { return .allowed(global) }
        if let what = unsupported[path] { return .unsupported(path, what: what) }
        return .disallowed(path)
    }
}
