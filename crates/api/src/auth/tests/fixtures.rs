//! Golden requests captured from the unmodified official Python SDKs (AccessKey `testid`,
//! secret `testsecret`) by a throw-away local HTTP server: `alibabacloud-dts20200101` 5.11.7
//! with its default ACS3 signature (`acs3_*`) and with `signature_algorithm="v2"`
//! (`v1new_*`), and `aliyun-python-sdk-dts` 5.1.29 / core 2.16.1 (`v1old_*`).
//!
//! `*_configure` carry a DbList and a Reserve JSON (spaces, quotes, `*`, `~`, non-ASCII) in
//! the form body and a `DtsJobName` / password with `+ & = % /` in the query; `*_sts` use an
//! STS token; `*_oddkeys` go through the generic `call_api` with query keys that need
//! encoding (`Odd Key*`), an empty value and a form body.

/// One captured HTTP request, byte for byte as received.
pub struct Fixture {
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: &'static str,
}

/// Captured from the real SDK: `acs3_describe`.
pub const ACS3_DESCRIBE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"JobType=MIGRATION&PageNumber=1&PageSize=20&Params=&RegionId=cn-hangzhou&WithoutDbList=True"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-date", r#"2026-11-23T11:02:39Z"#),
        (
            "x-acs-signature-nonce",
            r#"518f4ed8a547fc3862a06bb11a04c407"#,
        ),
        ("accept", r#"application/json"#),
        (
            "x-acs-content-sha256",
            r#"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"#,
        ),
        ("x-acs-credentials-provider", r#"static_ak"#),
        (
            "authorization",
            r#"ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=98fd58ee4432fdc5ddab7cbf0911f70b1ff2b7263616accae1a05bc423b23212"#,
        ),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `acs3_configure`.
pub const ACS3_CONFIGURE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"DataInitialization=True&DataSynchronization=False&DestinationEndpointEngineName=MySQL&DestinationEndpointInstanceType=other&DtsJobName=my+job+%C3%BC%2A~%2B%26%3D%25%2F+x&JobType=MIGRATION&RegionId=cn-hangzhou&SourceEndpointEngineName=MySQL&SourceEndpointInstanceType=other&SourceEndpointPassword=p%40ss%2Bw%2Frd%3D%2520%26&StructureInitialization=True"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"ConfigureDtsJob"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-date", r#"2026-11-23T11:02:39Z"#),
        (
            "x-acs-signature-nonce",
            r#"15d674da5d6edcbfa1a1ab8b21a468ed"#,
        ),
        ("accept", r#"application/json"#),
        ("content-type", r#"application/x-www-form-urlencoded"#),
        (
            "x-acs-content-sha256",
            r#"bcde0fcf3487fac13bb6a8f516622ee85e68347e00fc4841834ee4e0a5ecda0e"#,
        ),
        ("x-acs-credentials-provider", r#"static_ak"#),
        (
            "authorization",
            r#"ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=cf0a74915c9f8d5b877f405883de81584468fbc30c756837c75888f8f858ab60"#,
        ),
        ("content-length", r#"264"#),
    ],
    body: r#"DbList=%7B%22db+1%22%3A+%7B%22name%22%3A+%22tgt+%5C%22db%5C%22%22%2C+%22all%22%3A+true%2C+%22Table%22%3A+%7B%22t%2A~%22%3A+%7B%22name%22%3A+%22%C3%BC+%E8%A1%A8%22%7D%7D%7D%7D&Reserve=%7B%22targetTableMode%22%3A+%222%22%2C+%22note%22%3A+%22a%2Bb%3Dc%26d+e~%2A%22%7D"#,
};

/// Captured from the real SDK: `acs3_sts`.
pub const ACS3_STS: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"RegionId=cn-hangzhou"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-date", r#"2026-11-23T11:02:39Z"#),
        (
            "x-acs-signature-nonce",
            r#"cb8de488caf9fa8195d66b7f68116966"#,
        ),
        ("accept", r#"application/json"#),
        (
            "x-acs-content-sha256",
            r#"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"#,
        ),
        ("x-acs-credentials-provider", r#"static_sts"#),
        ("x-acs-accesskey-id", r#"testid"#),
        ("x-acs-security-token", r#"sts token/+="#),
        (
            "authorization",
            r#"ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=412ea56b486174bc5abe2d20947eb605f3542d53e1339266ee832521f0c6f6a9"#,
        ),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `v1new_describe`.
pub const V1NEW_DESCRIBE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"Action=DescribeDtsJobs&Format=json&Version=2020-01-01&Timestamp=2026-11-23T11%3A02%3A39Z&SignatureNonce=2f97d44b40a1541b78e0b529dff09b1c&JobType=MIGRATION&PageNumber=1&PageSize=20&Params=&RegionId=cn-hangzhou&WithoutDbList=True&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=eudPSG0Oh9DLN0%2BkWE5WxVf1V5g%3D"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-credentials-provider", r#"static_ak"#),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `v1new_configure`.
pub const V1NEW_CONFIGURE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"Action=ConfigureDtsJob&Format=json&Version=2020-01-01&Timestamp=2026-11-23T11%3A02%3A39Z&SignatureNonce=6f2843b0fc9b511abb7796d111563ed0&DataInitialization=True&DataSynchronization=False&DestinationEndpointEngineName=MySQL&DestinationEndpointInstanceType=other&DtsJobName=my+job+%C3%BC%2A~%2B%26%3D%25%2F+x&JobType=MIGRATION&RegionId=cn-hangzhou&SourceEndpointEngineName=MySQL&SourceEndpointInstanceType=other&SourceEndpointPassword=p%40ss%2Bw%2Frd%3D%2520%26&StructureInitialization=True&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=6Dr8xVDE%2Bh2vWmOkjo8sIgFdryA%3D"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"ConfigureDtsJob"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("content-type", r#"application/x-www-form-urlencoded"#),
        ("x-acs-credentials-provider", r#"static_ak"#),
        ("content-length", r#"264"#),
    ],
    body: r#"DbList=%7B%22db+1%22%3A+%7B%22name%22%3A+%22tgt+%5C%22db%5C%22%22%2C+%22all%22%3A+true%2C+%22Table%22%3A+%7B%22t%2A~%22%3A+%7B%22name%22%3A+%22%C3%BC+%E8%A1%A8%22%7D%7D%7D%7D&Reserve=%7B%22targetTableMode%22%3A+%222%22%2C+%22note%22%3A+%22a%2Bb%3Dc%26d+e~%2A%22%7D"#,
};

/// Captured from the real SDK: `v1new_sts`.
pub const V1NEW_STS: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"Action=DescribeDtsJobs&Format=json&Version=2020-01-01&Timestamp=2026-11-23T11%3A02%3A39Z&SignatureNonce=b259cc4f9b4ff585a9f98afbfdb99731&RegionId=cn-hangzhou&SecurityToken=sts+token%2F%2B%3D&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=LXhFEEEYOLDoGXTEps7YfMwwsfQ%3D"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-credentials-provider", r#"static_sts"#),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `v1old_describe`.
pub const V1OLD_DESCRIBE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"PageSize=20&JobType=MIGRATION&Version=2020-01-01&Action=DescribeDtsJobs&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T11%3A02%3A39Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=f3eb2073ae6d125e08bd2787a0446d42&AccessKeyId=testid&Signature=QeY3mO%2BgpSMk5T3C1N3PRlqIUg4%3D"#,
    headers: &[
        ("host", r#"127.0.0.1:45497"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux 6.18.44-fc-v595;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3"#,
        ),
        ("accept-encoding", r#"identity"#),
        ("accept", r#"*/*"#),
        ("connection", r#"keep-alive"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-sdk-invoke-type", r#"normal"#),
        ("x-sdk-client", r#"python/2.0.0"#),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `v1old_configure`.
pub const V1OLD_CONFIGURE: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"DtsJobName=my%20job%20%C3%BC%2A~%2B%26%3D%25%2F%20x&SourceEndpointInstanceType=other&SourceEndpointEngineName=MySQL&SourceEndpointPassword=p%40ss%2Bw%2Frd%3D%2520%26&DestinationEndpointInstanceType=other&DestinationEndpointEngineName=MySQL&StructureInitialization=True&DataInitialization=True&DataSynchronization=False&JobType=MIGRATION&Version=2020-01-01&Action=ConfigureDtsJob&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T11%3A02%3A39Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=42a074073d73120018ce0d8a5687c8d8&AccessKeyId=testid&Signature=1b3b0mPlvHqRwfFwQmAIwvGfZCg%3D"#,
    headers: &[
        ("host", r#"127.0.0.1:45497"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux 6.18.44-fc-v595;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3"#,
        ),
        ("accept-encoding", r#"identity"#),
        ("accept", r#"*/*"#),
        ("connection", r#"keep-alive"#),
        ("x-acs-action", r#"ConfigureDtsJob"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-sdk-invoke-type", r#"normal"#),
        ("content-type", r#"application/x-www-form-urlencoded"#),
        ("x-sdk-client", r#"python/2.0.0"#),
        ("content-md5", r#"kxyNL/jQDS/Y8xwi/2X8nA=="#),
        ("content-length", r#"264"#),
    ],
    body: r#"DbList=%7B%22db+1%22%3A+%7B%22name%22%3A+%22tgt+%5C%22db%5C%22%22%2C+%22all%22%3A+true%2C+%22Table%22%3A+%7B%22t%2A~%22%3A+%7B%22name%22%3A+%22%C3%BC+%E8%A1%A8%22%7D%7D%7D%7D&Reserve=%7B%22targetTableMode%22%3A+%222%22%2C+%22note%22%3A+%22a%2Bb%3Dc%26d+e~%2A%22%7D"#,
};

/// Captured from the real SDK: `v1old_sts`.
pub const V1OLD_STS: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"SecurityToken=sts%20token%2F%2B%3D&Version=2020-01-01&Action=DescribeDtsJobs&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T11%3A02%3A40Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=c94439e37c194f34d3d943d4f7d74adc&AccessKeyId=testid&Signature=8p2R0FSPNL7Cx1AWF9BCpKVloJ0%3D"#,
    headers: &[
        ("host", r#"127.0.0.1:45497"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux 6.18.44-fc-v595;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3"#,
        ),
        ("accept-encoding", r#"identity"#),
        ("accept", r#"*/*"#),
        ("connection", r#"keep-alive"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-sdk-invoke-type", r#"normal"#),
        ("x-sdk-client", r#"python/2.0.0"#),
        ("content-length", r#"0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `v1old_get`.
pub const V1OLD_GET: Fixture = Fixture {
    method: "GET",
    path: "/",
    query: r#"Tags=my%20job%20%C3%BC%2A~%2B%26%3D%25%2F%20x&PageSize=5&Version=2020-01-01&Action=DescribeDtsJobs&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T11%3A02%3A40Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=62ece045fecabc09a5cc4331d26bf0d8&AccessKeyId=testid&Signature=QXqlW2%2Bb6IHQCoaxIOPIwdRdYEY%3D"#,
    headers: &[
        ("host", r#"127.0.0.1:45497"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux 6.18.44-fc-v595;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3"#,
        ),
        ("accept-encoding", r#"identity"#),
        ("accept", r#"*/*"#),
        ("connection", r#"keep-alive"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-sdk-invoke-type", r#"normal"#),
        ("x-sdk-client", r#"python/2.0.0"#),
    ],
    body: r#""#,
};

/// Captured from the real SDK: `acs3_oddkeys`.
pub const ACS3_ODDKEYS: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"Odd+Key%2A=v+1&Tag.1.Key=k~%2A&a=&Z=%C3%BC"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("x-acs-date", r#"2026-11-23T11:02:40Z"#),
        (
            "x-acs-signature-nonce",
            r#"29fa2ea54bbe07ee275a6bf78b53b3ea"#,
        ),
        ("accept", r#"application/json"#),
        ("content-type", r#"application/x-www-form-urlencoded"#),
        (
            "x-acs-content-sha256",
            r#"997fc3478e2f4f41b04ae15f0c7aabaecca9cb4f4ebdd31ef7791e9fb9dce559"#,
        ),
        ("x-acs-credentials-provider", r#"static_ak"#),
        (
            "authorization",
            r#"ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=49c6b12c103f79acba6a276e7119377c637d1e45e4ac60d2b458a4af42cd7ebd"#,
        ),
        ("content-length", r#"34"#),
    ],
    body: r#"Reserve=%7B%22x%22%3A+%22y+z%22%7D"#,
};

/// Captured from the real SDK: `v1new_oddkeys`.
pub const V1NEW_ODDKEYS: Fixture = Fixture {
    method: "POST",
    path: "/",
    query: r#"Action=DescribeDtsJobs&Format=json&Version=2020-01-01&Timestamp=2026-11-23T11%3A02%3A40Z&SignatureNonce=29abf332ac9a5f883af3cb62eab70e2f&Odd+Key%2A=v+1&Tag.1.Key=k~%2A&a=&Z=%C3%BC&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=uDJvcK2fWl23Mxzt%2FuR7w58hbd0%3D"#,
    headers: &[
        ("accept-encoding", r#"identity"#),
        ("host", r#"127.0.0.1:45497"#),
        ("x-acs-version", r#"2020-01-01"#),
        ("x-acs-action", r#"DescribeDtsJobs"#),
        (
            "user-agent",
            r#"AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"#,
        ),
        ("content-type", r#"application/x-www-form-urlencoded"#),
        ("x-acs-credentials-provider", r#"static_ak"#),
        ("content-length", r#"34"#),
    ],
    body: r#"Reserve=%7B%22x%22%3A+%22y+z%22%7D"#,
};

/// Every fixture, named.
pub const ALL: &[(&str, &Fixture)] = &[
    ("acs3_describe", &ACS3_DESCRIBE),
    ("acs3_configure", &ACS3_CONFIGURE),
    ("acs3_sts", &ACS3_STS),
    ("v1new_describe", &V1NEW_DESCRIBE),
    ("v1new_configure", &V1NEW_CONFIGURE),
    ("v1new_sts", &V1NEW_STS),
    ("v1old_describe", &V1OLD_DESCRIBE),
    ("v1old_configure", &V1OLD_CONFIGURE),
    ("v1old_sts", &V1OLD_STS),
    ("v1old_get", &V1OLD_GET),
    ("acs3_oddkeys", &ACS3_ODDKEYS),
    ("v1new_oddkeys", &V1NEW_ODDKEYS),
];
