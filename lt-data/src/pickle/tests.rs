//! The unpickler against CPython's output and against hostile streams.

use super::writer::{dumps, Item, Style};
use super::*;

// Written by CPython 3.11 with numpy 2.4 (`pickle.dumps(d, protocol=P)`) for
// d = {'labels': [3, 1, 200, 70000, -5],
//      'data': np.array([[0, 1, 127, 128, 200, 255], [10, 92, 39, 34, 13, 9]], np.uint8),
//      'data2': np.array([7, 8], np.uint8), 'x': np.array([1, -2], '>i4'),
//      'f': np.array([1.5], np.float32),
//      'fortran': np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
//      'big': 2**70, 'name': 'ünï\\\n', 'b': b'\x00\xff\\\n', 'nested': {'t': (1, 2.5, None, True)}}
const PY3_P0: &str = concat!(
    "286470300a566c6162656c730a70310a286c70320a49330a6149310a61493230300a614937303030300a61492d350a61",
    "7356646174610a70330a636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a70",
    "340a28636e756d70790a6e6461727261790a70350a2849300a7470360a635f636f646563730a656e636f64650a70370a",
    "2856620a70380a566c6174696e310a70390a747031300a527031310a747031320a527031330a2849310a2849320a4936",
    "0a747031340a636e756d70790a64747970650a7031350a285675310a7031360a4930300a4930310a747031370a527031",
    "380a2849330a567c0a7031390a4e4e4e492d310a492d310a49300a747032300a624930300a67370a28565c7530303030",
    "017f80c8ff5c75303030615c753030356327225c7530303064090a7032310a67390a747032320a527032330a74703234",
    "0a62735664617461320a7032350a67340a2867350a2849300a747032360a6731310a747032370a527032380a2849310a",
    "2849320a747032390a6731380a4930300a67370a285607080a7033300a67390a747033310a527033320a747033330a62",
    "7356780a7033340a67340a2867350a2849300a747033350a6731310a747033360a527033370a2849310a2849320a7470",
    "33380a6731350a285669340a7033390a4930300a4930310a747034300a527034310a2849330a563e0a7034320a4e4e4e",
    "492d310a492d310a49300a747034330a624930300a67370a28565c75303030305c75303030305c753030303001ffffff",
    "fe0a7034340a67390a747034350a527034360a747034370a627356660a7034380a67340a2867350a2849300a74703439",
    "0a6731310a747035300a527035310a2849310a2849310a747035320a6731350a285666340a7035330a4930300a493031",
    "0a747035340a527035350a2849330a563c0a7035360a4e4e4e492d310a492d310a49300a747035370a624930300a6737",
    "0a28565c75303030305c7530303030c03f0a7035380a67390a747035390a527036300a747036310a627356666f727472",
    "616e0a7036320a67340a2867350a2849300a747036330a6731310a747036340a527036350a2849310a2849320a49330a",
    "747036360a6731350a285669320a7036370a4930300a4930310a747036380a527036390a2849330a6735360a4e4e4e49",
    "2d310a492d310a49300a747037300a624930310a67370a28565c75303030305c7530303030035c7530303030015c7530",
    "303030045c7530303030025c7530303030055c75303030300a7037310a67390a747037320a527037330a747037340a62",
    "73566269670a7037350a4c313138303539313632303731373431313330333432344c0a73566e616d650a7037360a56fc",
    "6eef5c75303035635c75303030610a7037370a7356620a7037380a67370a28565c7530303030ff5c75303035635c7530",
    "3030610a7037390a67390a747038300a527038310a73566e65737465640a7038320a28647038330a56740a7038340a28",
    "49310a46322e350a4e4930310a747038350a73732e",
);
const PY3_P2: &str = concat!(
    "80027d71002858060000006c6162656c7371015d7102284b034b014bc84a701101004afbffffff655804000000646174",
    "617103636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7104636e756d7079",
    "0a6e6461727261790a71054b00857106635f636f646563730a656e636f64650a7107580100000062710858060000006c",
    "6174696e31710986710a52710b87710c52710d284b014b024b0686710e636e756d70790a64747970650a710f58020000",
    "00753171108988877111527112284b0358010000007c71134e4e4e4affffffff4affffffff4b0074711462896807580f",
    "00000000017fc280c388c3bf0a5c27220d09711568098671165271177471186258050000006461746132711968046805",
    "4b0085711a680b87711b52711c284b014b0285711d681289680758020000000708711e680986711f5271207471216258",
    "01000000787122680468054b00857123680b877124527125284b014b02857126680f5802000000693471278988877128",
    "527129284b0358010000003e712a4e4e4e4affffffff4affffffff4b0074712b62896807580c00000000000001c3bfc3",
    "bfc3bfc3be712c680986712d52712e74712f625801000000667130680468054b00857131680b877132527133284b014b",
    "01857134680f5802000000663471358988877136527137284b0358010000003c71384e4e4e4affffffff4affffffff4b",
    "007471396289680758050000000000c3803f713a680986713b52713c74713d625807000000666f727472616e713e6804",
    "68054b0085713f680b877140527141284b014b024b03867142680f5802000000693271438988877144527145284b0368",
    "384e4e4e4affffffff4affffffff4b0074714662886807580c0000000000030001000400020005007147680986714852",
    "714974714a625803000000626967714b8a0900000000000000004058040000006e616d65714c5807000000c3bc6ec3af",
    "5c0a714d580100000062714e6807580500000000c3bf5c0a714f680986715052715158060000006e657374656471527d",
    "71535801000000747154284b014740040000000000004e8874715573752e",
);
const PY3_P4: &str = concat!(
    "80049524020000000000007d94288c066c6162656c73945d94284b034b014bc84a701101004afbffffff658c04646174",
    "61948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e75",
    "6d7079948c076e6461727261799493944b0085944301629487945294284b014b024b06869468078c0564747970659493",
    "948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b0074946289430c00017f80c8ff0a5c",
    "27220d09947494628c05646174613294680668094b008594680b87945294284b014b0285946813894302070894749462",
    "8c017894680668094b008594680b87945294284b014b02859468108c02693494898887945294284b038c013e944e4e4e",
    "4affffffff4affffffff4b0074946289430800000001fffffffe947494628c016694680668094b008594680b87945294",
    "284b014b01859468108c02663494898887945294284b038c013c944e4e4e4affffffff4affffffff4b00749462894304",
    "0000c03f947494628c07666f727472616e94680668094b008594680b87945294284b014b024b03869468108c02693294",
    "898887945294284b0368334e4e4e4affffffff4affffffff4b0074946288430c00000300010004000200050094749462",
    "8c03626967948a090000000000000000408c046e616d65948c07c3bc6ec3af5c0a948c016294430400ff5c0a948c066e",
    "6573746564947d948c017494284b014740040000000000004e88749473752e",
);
const PY3_P5: &str = concat!(
    "800595fd010000000000007d94288c066c6162656c73945d94284b034b014bc84a701101004afbffffff658c04646174",
    "61948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d62756666657294939428960c0000000000",
    "000000017f80c8ff0a5c27220d09948c056e756d7079948c0564747970659493948c02753194898887945294284b038c",
    "017c944e4e4e4affffffff4affffffff4b007494624b024b0686948c014394749452948c056461746132946806289602",
    "00000000000000070894680d4b0285946811749452948c01789468062896080000000000000000000001fffffffe9468",
    "0a8c02693494898887945294284b038c013e944e4e4e4affffffff4affffffff4b007494624b0285946811749452948c",
    "0166946806289604000000000000000000c03f94680a8c02663494898887945294284b038c013c944e4e4e4affffffff",
    "4affffffff4b007494624b0185946811749452948c07666f727472616e94680628960c00000000000000000003000100",
    "04000200050094680a8c02693294898887945294284b0368284e4e4e4affffffff4affffffff4b007494624b024b0386",
    "948c014694749452948c03626967948a090000000000000000408c046e616d65948c07c3bc6ec3af5c0a948c01629443",
    "0400ff5c0a948c066e6573746564947d948c017494284b014740040000000000004e88749473752e",
);
const SMALL_P2: &str = concat!(
    "80027d710028580b00000062617463685f6c6162656c7101581400000074657374696e672062617463682031206f6620",
    "31710258060000006c6162656c7371035d7104284b034b084b004d2c014afeffffff655804000000646174617105636e",
    "756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7106636e756d70790a6e646172",
    "7261790a71074b00857108635f636f646563730a656e636f64650a7109580100000062710a58060000006c6174696e31",
    "710b86710c52710d87710e52710f284b014b034b04867110636e756d70790a64747970650a7111580200000075317112",
    "8988877113527114284b0358010000007c71154e4e4e4affffffff4affffffff4b0074711662896809580f00000000c2",
    "80c3bf0ac388010203095c22277117680b86711852711974711a62580900000066696c656e616d6573711b5d711c2858",
    "05000000612e706e67711d5805000000622e706e67711e5805000000632e706e67711f65580500000064617461327120",
    "680668074b00857121680d877122527123284b014b028571246814896809580300000005c3ba7125680b867126527127",
    "74712862752e",
);
const SMALL_P4: &str = concat!(
    "80049532010000000000007d94288c0b62617463685f6c6162656c948c1474657374696e672062617463682031206f66",
    "2031948c066c6162656c73945d94284b034b084b004d2c014afeffffff658c0464617461948c166e756d70792e5f636f",
    "72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e646172726179",
    "9493944b0085944301629487945294284b014b034b04869468098c0564747970659493948c0275319489888794529428",
    "4b038c017c944e4e4e4affffffff4affffffff4b0074946289430c0080ff0ac8010203095c2227947494628c0966696c",
    "656e616d6573945d94288c05612e706e67948c05622e706e67948c05632e706e6794658c056461746132946808680b4b",
    "008594680d87945294284b014b028594681589430205fa94749462752e",
);
// SMALL_P2 / SMALL_P4 above: the same CPython for
// {'batch_label': 'testing batch 1 of 1', 'labels': [3, 8, 0, 300, -2],
//  'data': np.array([[0, 128, 255, 10], [200, 1, 2, 3], [9, 92, 34, 39]], np.uint8),
//  'filenames': ['a.png', 'b.png', 'c.png'], 'data2': np.array([5, 250], np.uint8)}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

fn arr(dtype: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Value {
    Value::Array(NdArray {
        dtype: dtype.into(),
        shape: shape.to_vec(),
        fortran,
        data: data.to_vec(),
    })
}

fn small_item() -> Item {
    Item::Dict(vec![
        (
            "batch_label".into(),
            Item::Text("testing batch 1 of 1".into()),
        ),
        ("labels".into(), Item::Ints(vec![3, 8, 0, 300, -2])),
        (
            "data".into(),
            Item::U8Array(
                vec![3, 4],
                vec![0, 128, 255, 10, 200, 1, 2, 3, 9, 92, 34, 39],
            ),
        ),
        (
            "filenames".into(),
            Item::Texts(vec!["a.png".into(), "b.png".into(), "c.png".into()]),
        ),
        ("data2".into(), Item::U8Array(vec![2], vec![5, 250])),
    ])
}

fn check_small(v: &Value) {
    assert_eq!(
        v.get("batch_label").unwrap().as_str().unwrap(),
        "testing batch 1 of 1"
    );
    assert_eq!(
        v.get("labels").unwrap().to_int_vec().unwrap(),
        vec![3, 8, 0, 300, -2]
    );
    assert_eq!(
        v.get("data"),
        Some(&arr(
            "|u1",
            &[3, 4],
            false,
            &[0, 128, 255, 10, 200, 1, 2, 3, 9, 92, 34, 39]
        ))
    );
    assert_eq!(
        v.get("filenames").unwrap().to_str_vec().unwrap(),
        vec!["a.png", "b.png", "c.png"]
    );
    assert_eq!(v.get("data2"), Some(&arr("|u1", &[2], false, &[5, 250])));
}

#[test]
fn reads_cpython_protocols_0_2_4_5() {
    let mut big = vec![0u8; 8];
    big.push(0x40); // 2**70, shortest two's complement little-endian
    for (p, hex) in [(0, PY3_P0), (2, PY3_P2), (4, PY3_P4), (5, PY3_P5)] {
        let v = loads(&unhex(hex)).unwrap_or_else(|e| panic!("protocol {p}: {e}"));
        let want = Value::Dict(vec![
            (
                s("labels"),
                Value::List([3, 1, 200, 70000, -5].into_iter().map(Value::Int).collect()),
            ),
            (
                s("data"),
                arr(
                    "|u1",
                    &[2, 6],
                    false,
                    &[0, 1, 127, 128, 200, 255, 10, 92, 39, 34, 13, 9],
                ),
            ),
            (s("data2"), arr("|u1", &[2], false, &[7, 8])),
            (
                s("x"),
                arr(">i4", &[2], false, &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]),
            ),
            (s("f"), arr("<f4", &[1], false, &1.5f32.to_le_bytes())),
            // Fortran order: column by column.
            (
                s("fortran"),
                arr("<i2", &[2, 3], true, &[0, 0, 3, 0, 1, 0, 4, 0, 2, 0, 5, 0]),
            ),
            (s("big"), Value::BigInt(big.clone())),
            (s("name"), s("ünï\\\n")),
            (s("b"), Value::Bytes(vec![0, 0xff, b'\\', b'\n'])),
            (
                s("nested"),
                Value::Dict(vec![(
                    s("t"),
                    Value::Tuple(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        Value::None,
                        Value::Bool(true),
                    ]),
                )]),
            ),
        ]);
        assert_eq!(v, want, "protocol {p}");
        let Some(Value::Array(x)) = v.get("x") else {
            panic!()
        };
        assert_eq!(x.to_i64().unwrap(), vec![1, -2]);
        let Some(Value::Array(f)) = v.get("fortran") else {
            panic!()
        };
        assert_eq!(
            f.to_i64().unwrap(),
            vec![0, 1, 2, 3, 4, 5],
            "protocol {p}: C order"
        );
    }
}

#[test]
fn writer_is_byte_identical_to_cpython() {
    assert_eq!(dumps(Style::Py3P2, &small_item()), unhex(SMALL_P2));
    assert_eq!(dumps(Style::Py3P4, &small_item()), unhex(SMALL_P4));
    check_small(&loads(&unhex(SMALL_P2)).unwrap());
    check_small(&loads(&unhex(SMALL_P4)).unwrap());
}

#[test]
fn reads_python2_protocol2_stream() {
    let bytes = dumps(Style::Py2, &small_item());
    // Python 2 byte strings, numpy.core paths and integer dtype flags, nothing else.
    assert!(bytes.windows(22).any(|w| w == b"numpy.core.multiarray\n"));
    assert!(!bytes.windows(7).any(|w| w == b"_codecs"));
    let v = loads(&bytes).unwrap();
    check_small(&v);
    assert!(matches!(v.get("batch_label"), Some(Value::Bytes(_))));
}

#[test]
fn reads_python2_protocol0_stream() {
    // What Python 2.7's pickle.dumps(d) (protocol 0) writes for
    // {'labels': [3, 1], 'data': numpy.array([0, 255, 39, 10], numpy.uint8)}.
    let p0: &[u8] = b"(dp0\nS'labels'\np1\n(lp2\nI3\naI1\nasS'data'\np3\n\
        cnumpy.core.multiarray\n_reconstruct\np4\n(cnumpy\nndarray\np5\n(I0\ntp6\nS'b'\np7\n\
        tp8\nRp9\n(I1\n(I4\ntp10\ncnumpy\ndtype\np11\n(S'u1'\np12\nI0\nI1\ntp13\nRp14\n\
        (I3\nS'|'\np15\nNNNI-1\nI-1\nI0\ntp16\nbI00\nS\"\\x00\\xff'\\n\"\np17\ntp18\nbs.";
    let v = loads(p0).unwrap();
    assert_eq!(v.get("labels").unwrap().to_int_vec().unwrap(), vec![3, 1]);
    assert_eq!(
        v.get("data"),
        Some(&arr("|u1", &[4], false, &[0, 255, 39, 10]))
    );
}

#[test]
fn memo_shares_mutated_objects() {
    // A list memoized empty, filled by APPENDS, then fetched again with BINGET:
    // both references must see the items.
    let bytes = b"\x80\x02]q\x00(K\x01K\x02eh\x00\x86q\x01.";
    let v = loads(bytes).unwrap();
    let l = Value::List(vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(v, Value::Tuple(vec![l.clone(), l]));
}

#[test]
fn never_executes_and_rejects_bad_streams() {
    // os.system('rm -rf /') stays an inert object.
    let v = loads(b"\x80\x02cos\nsystem\nX\x08\x00\x00\x00rm -rf /\x85R.").unwrap();
    assert!(
        matches!(v, Value::Object { ref module, ref name, .. } if module == "os" && name == "system")
    );
    // Every truncation of a real pickle is an error, never a panic.
    let full = unhex(PY3_P2);
    for n in 0..full.len() - 1 {
        assert!(loads(&full[..n]).is_err(), "prefix {n} accepted");
    }
    let e = loads(b"\x80\x02\xff").unwrap_err();
    assert!(e.msg.contains("unknown opcode 0xff"), "{e}");
    assert!(loads(b"\x80\x02h\x05.")
        .unwrap_err()
        .msg
        .contains("memo key 5"));
    // Array data shorter than its shape needs.
    let mut bad = unhex(SMALL_P4);
    let pos = bad.windows(2).position(|w| w == [0x43, 0x0c]).unwrap();
    bad[pos + 1] = 0x0b;
    bad.remove(pos + 2);
    let e = loads(&bad).unwrap_err();
    assert!(e.msg.contains("needs 12 bytes, the pickle holds 11"), "{e}");
    assert!(loads(b"\x80\x06.").unwrap_err().msg.contains("protocol 6"));
}

fn framed(body: &[u8]) -> Vec<u8> {
    [&b"\x80\x02"[..], body, b"."].concat()
}

/// Pickles nesting `n` deep in every way the opcodes allow.
fn nestings(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // EMPTY_LIST x n, APPEND x (n - 1).
        ("lists", [vec![b']'; n], vec![b'a'; n - 1]].concat()),
        // MARK x n, LIST x n: [[[...]]] the protocol-0 way.
        ("marked lists", [vec![b'('; n], vec![b'l'; n]].concat()),
        // EMPTY_TUPLE, TUPLE1 x n.
        ("tuples", [vec![b')'], vec![0x85; n]].concat()),
        // EMPTY_TUPLE, (MARK, TUPLE) wrapping: MARK x n first, then TUPLE x n.
        ("marked tuples", [vec![b'('; n], vec![b't'; n]].concat()),
        // EMPTY_DICT, (BININT1 0, EMPTY_DICT) x n, SETITEM x n.
        (
            "dicts",
            [vec![b'}'], b"K\x00}".repeat(n), vec![b's'; n]].concat(),
        ),
        // EMPTY_SET, (MARK, EMPTY_SET ... ADDITEMS): sets of sets.
        (
            "sets",
            [vec![0x8f], [b'(', 0x8f].repeat(n), vec![0x90; n]].concat(),
        ),
        // Through the memo: l = [l] n times, each level stored and fetched again.
        (
            "memo",
            [
                b"]q\x00\x30".to_vec(),
                b"]h\x00aq\x00\x30".repeat(n),
                b"h\x00".to_vec(),
            ]
            .concat(),
        ),
        // Opaque objects whose arguments nest, MARK GLOBAL ... OBJ: m.f(m.f(...)), two
        // levels (object, argument tuple) each.
        (
            "objects",
            [b"(cm\nf\n".repeat(n / 2), vec![b')'], vec![b'o'; n / 2]].concat(),
        ),
    ]
}

#[test]
fn nesting_is_bounded_in_every_shape() {
    // On a small stack: nothing recurses on the depth of the data.
    let small = std::thread::Builder::new().stack_size(256 << 10);
    small
        .spawn(|| {
            for (shape, body) in nestings(200_000) {
                let e = loads(&framed(&body)).unwrap_err();
                assert!(
                    e.msg.contains("nesting deeper than 512 levels"),
                    "{shape}: {e}"
                );
                // Without STOP the machine fails holding the deep structure: dropped, no
                // overflow.
                let e = loads(&[&b"\x80\x02"[..], &body].concat()).unwrap_err();
                assert!(e.msg.contains("truncated"), "{shape}: {e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
    // Within the limit every shape converts.
    for (shape, body) in nestings(500) {
        let v = loads(&framed(&body)).unwrap_or_else(|e| panic!("{shape}: {e}"));
        let mut depth = 0;
        let mut cur = &v;
        loop {
            let next = match cur {
                Value::List(x) | Value::Tuple(x) | Value::Set(x) => x.first(),
                Value::Dict(x) => x.first().map(|(_, v)| v),
                Value::Object { args, .. } => {
                    depth += 1;
                    args.as_seq().and_then(|a| a.first())
                }
                _ => None,
            };
            match next {
                Some(n) => {
                    depth += 1;
                    cur = n;
                }
                None => break,
            }
        }
        assert!((499..=501).contains(&depth), "{shape}: depth {depth}");
    }
}

#[test]
fn nesting_grown_after_the_fact_is_bounded_too() {
    // Lists stored empty, then each appended to the one before it through the memo:
    // the nesting is made by mutation, not by construction.
    let n = 100_000u32;
    let mut b = Vec::new();
    for i in 0..n {
        b.push(b']');
        b.push(b'r');
        b.extend(i.to_le_bytes());
        b.push(b'0');
    }
    for i in 1..n {
        for j in [i - 1, i] {
            b.push(b'j');
            b.extend(j.to_le_bytes());
        }
        b.extend(b"a0");
    }
    b.extend(b"j\x00\x00\x00\x00");
    let e = loads(&framed(&b)).unwrap_err();
    assert!(e.msg.contains("nesting deeper than 512"), "{e}");
    // A list holding itself.
    let e = loads(b"\x80\x02]q\x00h\x00a.").unwrap_err();
    assert!(e.msg.contains("nesting deeper than 512"), "{e}");
}

#[test]
fn shared_references_cannot_multiply_without_bound() {
    // l = [l, l] sixty times: 2**60 leaves once copied out.
    let mut b = b"]q\x00\x30".to_vec();
    b.extend(b"(h\x00h\x00lq\x00\x30".repeat(60));
    b.extend(b"h\x00");
    let e = loads(&framed(&b)).unwrap_err();
    assert!(e.msg.contains("reference bomb"), "{e}");
    // One 1 MB byte string referenced 100,000 times from a 200 KB pickle.
    let mut b = b"B\x00\x00\x10\x00".to_vec();
    b.extend(vec![7u8; 1 << 20]);
    b.extend(b"q\x00\x30(");
    b.extend(b"h\x00".repeat(100_000));
    b.push(b'l');
    let e = loads(&framed(&b)).unwrap_err();
    assert!(e.msg.contains("reference bomb"), "{e}");
    // Modest sharing, as real pickles have, is copied.
    let mut b = b"X\x03\x00\x00\x00abcq\x00\x30(".to_vec();
    b.extend(b"h\x00".repeat(1000));
    b.push(b'l');
    let v = loads(&framed(&b)).unwrap();
    assert_eq!(v.as_seq().unwrap().len(), 1000);
    assert!(v.as_seq().unwrap().iter().all(|x| *x == s("abc")));
}

#[test]
fn build_whose_state_holds_its_target_is_no_panic() {
    // d = {}; d.__setstate__(d): the state is the dict itself.
    let v = loads(b"\x80\x02}q\x00h\x00b.").unwrap();
    assert_eq!(v, Value::Dict(vec![]));
    // An array given itself as its state, directly and inside the state tuple.
    let arr = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n)Rq\x00";
    let e = loads(&[&arr[..], b"h\x00b."].concat()).unwrap_err();
    assert!(e.msg.contains("ndarray state is not a tuple"), "{e}");
    let e = loads(&[&arr[..], b"(K\x01h\x00h\x00\x89h\x00tb."].concat()).unwrap_err();
    assert!(e.msg.contains("array shape is not a tuple"), "{e}");
    // A dtype whose state names itself as the byte order keeps its default order.
    let dt = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85Rq\x00(K\x03h\x00tb.";
    assert_eq!(loads(dt).unwrap(), Value::Dtype("u1".into()));
}
